/* A tiny built-in 5x7 bitmap font for the info overlay (no SDL_ttf): digits, capital letters, a little
 * punctuation. Lower-case letters are drawn as capitals; other characters as blanks. */
#ifndef NVC_PLAYER_FONT_H
#define NVC_PLAYER_FONT_H

#include <SDL.h>

#define FONT_W 5
#define FONT_H 7

/* Draws text with its top-left corner at (x, y), each font pixel a scale x scale square in the renderer's
 * current draw colour. Returns the width drawn. */
int font_draw(SDL_Renderer *r, int x, int y, int scale, const char *text);

#endif
