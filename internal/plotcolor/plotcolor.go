// Package plotcolor holds the colours kiln's plots give their series, so that every plot
// tells its lines apart the same way.
package plotcolor

import "image/color"

// categorical is the Tableau 10 palette (matplotlib's default colour cycle): ten hues that
// stay distinct for readers with the common colour-vision deficiencies.
var categorical = [...]color.RGBA{
	{31, 119, 180, 255},  // blue
	{255, 127, 14, 255},  // orange
	{44, 160, 44, 255},   // green
	{214, 39, 40, 255},   // red
	{148, 103, 189, 255}, // purple
	{140, 86, 75, 255},   // brown
	{227, 119, 194, 255}, // pink
	{127, 127, 127, 255}, // grey
	{188, 189, 34, 255},  // olive
	{23, 190, 207, 255},  // cyan
}

// Categorical returns the colour of the i-th series (i ≥ 0); the ten colours repeat from
// the eleventh series on.
func Categorical(i int) color.RGBA {
	return categorical[i%len(categorical)]
}
