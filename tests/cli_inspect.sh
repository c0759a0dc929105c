#!/usr/bin/env bash
# cli_inspect.sh - `prophy inspect` on a valid safetensors file and on each kind of
# malformed one (built here with printf, head and dd): every bad file gives exactly
# one "prophy: error:" line naming the file and the problem, and a non-zero exit.
cd "$(dirname "$0")/.." || exit 1
source tests/cli_lib.sh
export LC_ALL=C # ${#header} counts bytes

# le64 N: N as 8 little-endian bytes
le64() {
    local i
    for i in 0 1 2 3 4 5 6 7; do printf "\\$(printf '%03o' $((($1 >> (8 * i)) & 255)))"; done
}

# st FILE HEADER DATA_BYTES [HEADER_LENGTH]: a safetensors file with DATA_BYTES zero bytes of data
st() {
    { le64 "${4:-${#2}}"; printf '%s' "$2"; head -c "$3" /dev/zero; } >"$1"
}

# fails_with WHAT PATTERN CMD...: one error line, non-zero exit, and the line matches PATTERN
fails_with() {
    local what=$1 pat=$2; shift 2
    expect_fail "$what" "$@"
    check "$what: message says '$pat'" 'grep -q -- "^prophy: error: .*$pat" "$CLI_TMP/err"'
}

T="$CLI_TMP"
A='"a.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}'
B='"b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}'
GOOD="{\"__metadata__\":{\"format\":\"pt\"},$A,$B}"

# ---- a valid file
st "$T/good.safetensors" "$GOOD" 32
expect_ok "valid file" "$PROPHY" inspect "$T/good.safetensors"
check "lists a.weight as F32 [2,3]" 'grep -Eq "^  a\.weight +F32 +\[2,3\]\$" "$CLI_TMP/out"'
check "lists b as BF16 [4]" 'grep -Eq "^  b +BF16 +\[4\]\$" "$CLI_TMP/out"'
check "counts tensors and parameters" 'grep -q "2 tensors, 10 parameters" "$CLI_TMP/out"'
check "shows metadata" 'grep -q "^  format: pt\$" "$CLI_TMP/out"'
expect_ok "valid file, --json" "$PROPHY" inspect "$T/good.safetensors" --json
check "json: parameters" 'grep -q "\"parameters\":10" "$CLI_TMP/out"'
check "json: tensor entry" \
    'grep -q "{\"name\":\"a.weight\",\"dtype\":\"F32\",\"shape\":\[2,3\],\"data_offsets\":\[0,24\]}" "$CLI_TMP/out"'
check "json: metadata" 'grep -q "\"metadata\":{\"format\":\"pt\"}" "$CLI_TMP/out"'
check "json: one line" '[ "$(wc -l <"$CLI_TMP/out")" -eq 1 ]'
st "$T/empty-header.safetensors" '{}      ' 0
expect_ok "file with no tensors" "$PROPHY" inspect "$T/empty-header.safetensors"
expect_ok "--help" "$PROPHY" inspect --help

# ---- usage errors
fails_with "no FILE" "missing FILE" "$PROPHY" inspect
fails_with "unknown option" "unknown option '--bogus'" "$PROPHY" inspect --bogus "$T/good.safetensors"
fails_with "two files" "one FILE at a time" "$PROPHY" inspect "$T/good.safetensors" "$T/good.safetensors"

# ---- files that are not there or not files
fails_with "nonexistent file" "nope.safetensors: cannot open" "$PROPHY" inspect "$T/nope.safetensors"
: >"$T/empty.safetensors"
fails_with "empty file" "empty.safetensors: file is empty" "$PROPHY" inspect "$T/empty.safetensors"
mkdir "$T/dir.safetensors"
fails_with "directory" "is a directory" "$PROPHY" inspect "$T/dir.safetensors"

# ---- truncated files
size=$(wc -c <"$T/good.safetensors")
head -c $((size - 5)) "$T/good.safetensors" >"$T/cut-data.safetensors"
fails_with "truncated in the data" "tensor 'b': data_offsets \[24,32\] are out of bounds" \
    "$PROPHY" inspect "$T/cut-data.safetensors"
head -c 40 "$T/good.safetensors" >"$T/cut-header.safetensors"
fails_with "truncated in the header" "larger than the file" "$PROPHY" inspect "$T/cut-header.safetensors"
head -c 5 "$T/good.safetensors" >"$T/cut-length.safetensors"
fails_with "truncated in the length" "truncated: 5 bytes" "$PROPHY" inspect "$T/cut-length.safetensors"

# ---- header length
st "$T/hlen.safetensors" "$GOOD" 32 100000
fails_with "header length larger than the file" "header length 100000 is larger than the file" \
    "$PROPHY" inspect "$T/hlen.safetensors"
{ printf '\377\377\377\377\377\377\377\377'; printf '%s' "$GOOD"; } >"$T/huge.safetensors"
fails_with "absurd header length" "header length 18446744073709551615 is absurd" \
    "$PROPHY" inspect "$T/huge.safetensors"

# ---- invalid JSON: a '}' overwritten in place with dd, a cut-off header, not an object
cp "$T/good.safetensors" "$T/json.safetensors"
printf '#' | dd of="$T/json.safetensors" bs=1 seek=$((8 + ${#GOOD} - 1)) conv=notrunc 2>/dev/null
fails_with "invalid JSON (dd)" "header is not valid JSON" "$PROPHY" inspect "$T/json.safetensors"
st "$T/json2.safetensors" "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3]," 0
fails_with "invalid JSON (unterminated)" "header is not valid JSON" "$PROPHY" inspect "$T/json2.safetensors"
st "$T/array.safetensors" '[1,2]' 0
fails_with "header not an object" "header is not a JSON object" "$PROPHY" inspect "$T/array.safetensors"
st "$T/utf8.safetensors" "$(printf '{"\377":1}')" 0
fails_with "header not UTF-8" "not valid UTF-8" "$PROPHY" inspect "$T/utf8.safetensors"

# ---- tensor entries
st "$T/dtype.safetensors" '{"a":{"dtype":"F7","shape":[2,3],"data_offsets":[0,24]}}' 24
fails_with "unknown dtype" "tensor 'a': unknown dtype 'F7'" "$PROPHY" inspect "$T/dtype.safetensors"
st "$T/nodtype.safetensors" '{"a":{"shape":[2,3],"data_offsets":[0,24]}}' 24
fails_with "missing dtype" "tensor 'a': has no \"dtype\"" "$PROPHY" inspect "$T/nodtype.safetensors"
st "$T/negdim.safetensors" '{"a":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,24]}}' 24
fails_with "negative dimension" "shape\[1\] is -3" "$PROPHY" inspect "$T/negdim.safetensors"
st "$T/oob.safetensors" '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}}' 24
fails_with "offsets out of bounds" "tensor 'a': data_offsets \[8,32\] are out of bounds: the data section has 24 bytes" \
    "$PROPHY" inspect "$T/oob.safetensors"
st "$T/back.safetensors" '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[24,0]}}' 24
fails_with "offsets backwards" "run backwards" "$PROPHY" inspect "$T/back.safetensors"
st "$T/overlap.safetensors" \
    '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}' 24
fails_with "overlapping offsets" "tensors 'a' \[0,24\] and 'b' \[16,24\] overlap" "$PROPHY" inspect "$T/overlap.safetensors"
st "$T/gap.safetensors" \
    '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}' 24
fails_with "hole between tensors" "bytes \[8,16) of the data section belong to no tensor" \
    "$PROPHY" inspect "$T/gap.safetensors"
st "$T/trailing.safetensors" "{$A}" 30
fails_with "trailing bytes" "6 trailing bytes" "$PROPHY" inspect "$T/trailing.safetensors"
st "$T/shape.safetensors" '{"a":{"dtype":"F32","shape":[2,4],"data_offsets":[0,24]}}' 24
fails_with "shape disagrees with byte count" "tensor 'a': shape \[2,4\] of F32 needs 32 bytes but data_offsets \[0,24\] hold 24" \
    "$PROPHY" inspect "$T/shape.safetensors"
st "$T/dup.safetensors" "{$A,$A}" 24
fails_with "duplicate tensor" "tensor 'a.weight' appears twice" "$PROPHY" inspect "$T/dup.safetensors"
st "$T/meta.safetensors" '{"__metadata__":{"step":12}}' 0
fails_with "non-string metadata" "metadata 'step' is not a string" "$PROPHY" inspect "$T/meta.safetensors"

cli_summary
