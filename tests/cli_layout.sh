# cli_layout.sh - the layout rules of docs/ARCHITECTURE.md hold: folders include
# only the folders below them, libprophy.a exports only pp_ names, and the library
# never ends the process but through its one fatal helper (base/common.c).
. tests/cli_lib.sh
LIB=${BUILD:-build}/libprophy.a
expect_ok   "folders include only what their row allows" env LIB=$LIB tools/check_layout.sh
check       "no abort() or exit() in the library but pp_fatal's" '[ -z "$(grep -rnE "\babort\(\)|\bexit\(" src --include=*.c | grep -v "^src/cli/" | grep -v "^src/base/common.c")" ]'
check       "the folder map names every folder" 'for d in src/*/; do grep -q "\`$d\`" docs/ARCHITECTURE.md || exit 1; done'
cli_summary
