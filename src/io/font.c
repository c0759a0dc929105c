/* font.c - see font.h. Each glyph is 5 rows of 3 pixels, top to bottom, '#' = ink. */
#include <string.h>
#include "io/font.h"

static const char *const g_letters[26] = {
    ".#.#.#####.##.#", "##.#.###.#.###.", ".###..#..#...##", "##.#.##.##.###.", "####..##.#..###",
    "####..##.#..#..", ".###..#.##.#.##", "#.##.####.##.#.", "###.#..#..#.###", "..#..#..##.#.#.",
    "#.##.###.#.##.#", "#..#..#..#..###", "#.#####.##.##.#", "##.#.##.##.##.#", ".#.#.##.##.#.#.",
    "##.#.###.#..#..", ".#.#.##.###..##", "##.#.###.#.##.#", ".###...#...###.", "###.#..#..#..#.",
    "#.##.##.##.####", "#.##.##.##.#.#.", "#.##.#######.##", "#.##.#.#.#.##.#", "#.##.#.#..#..#.",
    "###..#.#.#..###"};
static const char *const g_digits[10] = {
    "####.##.##.####", ".#.##..#..#.###", "###..#####..###", "###..####..####", "#.##.####..#..#",
    "####..###..####", "####..####.####", "###..#..#..#..#", "####.#####.####", "####.####..####"};

static const char *glyph(char c) {
    if (c >= 'a' && c <= 'z') return g_letters[c - 'a'];
    if (c >= '0' && c <= '9') return g_digits[c - '0'];
    if (c == '.') return ".............#.";
    if (c == '-') return "......###......";
    if (c == '_') return "............###";
    return NULL;
}

void pp_font_draw(uint8_t *rgb, int w, int h, int x, int y, const char *s, int scale, const uint8_t col[3]) {
    for (; *s; s++, x += 4 * scale) {
        const char *g = glyph(*s);
        for (int k = 0; g && k < 15; k++) {
            if (g[k] != '#') continue;
            for (int dy = 0; dy < scale; dy++)
                for (int dx = 0; dx < scale; dx++) {
                    int px = x + (k % 3) * scale + dx, py = y + (k / 3) * scale + dy;
                    if (px >= 0 && px < w && py >= 0 && py < h) memcpy(rgb + ((size_t)py * w + px) * 3, col, 3);
                }
        }
    }
}
