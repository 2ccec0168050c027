// Command demogen draws the demo catalogue's product photos: simple,
// photo-like still lifes of Rongjiang products, painted procedurally so
// the repository carries no third-party images. It lives under testdata so
// ordinary builds ignore it. Run from the repository root:
//
//	go run ./overlay/testdata/demogen -out overlay/testdata/demo/photos
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
)

type rgb struct{ r, g, b float64 }

func (a rgb) mix(b rgb, t float64) rgb {
	t = clamp01(t)
	return rgb{a.r + (b.r-a.r)*t, a.g + (b.g-a.g)*t, a.b + (b.b-a.b)*t}
}
func (a rgb) mul(k float64) rgb { return rgb{a.r * k, a.g * k, a.b * k} }
func (a rgb) add(b rgb) rgb     { return rgb{a.r + b.r, a.g + b.g, a.b + b.b} }

func hex(v uint32) rgb {
	return rgb{float64(v>>16&255) / 255, float64(v>>8&255) / 255, float64(v&255) / 255}
}

func clamp01(t float64) float64 { return math.Min(math.Max(t, 0), 1) }

func smooth(e0, e1, x float64) float64 {
	t := clamp01((x - e0) / (e1 - e0))
	return t * t * (3 - 2*t)
}

// hash2 and noise give cheap, deterministic value noise for textures.
func hash2(x, y int) float64 {
	h := uint32(x)*374761393 + uint32(y)*668265263
	h = (h ^ (h >> 13)) * 1274126177
	return float64(h^(h>>16)) / float64(math.MaxUint32)
}

func noise(x, y float64) float64 {
	xi, yi := math.Floor(x), math.Floor(y)
	fx, fy := x-xi, y-yi
	fx, fy = fx*fx*(3-2*fx), fy*fy*(3-2*fy)
	a, b := hash2(int(xi), int(yi)), hash2(int(xi)+1, int(yi))
	c, d := hash2(int(xi), int(yi)+1), hash2(int(xi)+1, int(yi)+1)
	return a + (b-a)*fx + (c-a)*fy + (a-b-c+d)*fx*fy
}

func fbm(x, y float64) float64 {
	s, amp := 0.0, 0.5
	for i := 0; i < 4; i++ {
		s += amp * noise(x, y)
		x, y, amp = x*2.03, y*2.03, amp/2
	}
	return s
}

// roundBox is the signed distance to a rounded box centred at (cx, cy).
func roundBox(x, y, cx, cy, hw, hh, r float64) float64 {
	qx := math.Abs(x-cx) - hw + r
	qy := math.Abs(y-cy) - hh + r
	return math.Hypot(math.Max(qx, 0), math.Max(qy, 0)) + math.Min(math.Max(qx, qy), 0) - r
}

func cover(d, px float64) float64 { return clamp01(0.5 - d/px) }

type scene func(x, y float64) rgb

const size = 480

func chiliSauce(x, y float64) rgb {
	wall := hex(0xF6D9B0).mix(hex(0xE8A868), y*1.2)
	col := wall
	// Wooden table.
	if y > 0.7 {
		grain := 0.5 + 0.5*math.Sin(x*40+fbm(x*6, y*30)*6)
		col = hex(0x8A5230).mix(hex(0x6B3A1F), grain*0.6).mul(0.9 + 0.1*fbm(x*30, y*8))
	}
	// Soft shadow of the jar on the table.
	sh := smooth(0.2, 0, math.Hypot((x-0.52)*1.1, (y-0.86)*4))
	col = col.mul(1 - 0.35*sh)
	// Jar body: glass full of red sauce with chili flakes.
	d := roundBox(x, y, 0.5, 0.58, 0.2, 0.26, 0.06)
	if c := cover(d, 1.0/size); c > 0 {
		body := hex(0xB3191B).mix(hex(0x6E0B0C), (x-0.3)/0.4)
		if fbm(x*60, y*60) > 0.68 {
			body = body.mix(hex(0xE0552A), 0.7)
		}
		// Label.
		if y > 0.5 && y < 0.68 {
			body = hex(0xF4E3C3).mix(hex(0xD9BE8E), (x-0.3)/0.4)
			if math.Abs(y-0.59) < 0.045 && math.Abs(x-0.5) < 0.12 {
				body = hex(0xC62828)
			}
		}
		glint := smooth(0.025, 0, math.Abs(x-0.36)) * smooth(0.32, 0.4, y) * smooth(0.84, 0.76, y)
		body = body.add(rgb{1, 1, 1}.mul(0.45 * glint))
		col = col.mix(body, c)
	}
	// Gold lid with ridges.
	d = roundBox(x, y, 0.5, 0.29, 0.215, 0.05, 0.02)
	if c := cover(d, 1.0/size); c > 0 {
		lid := hex(0xF2C14E).mix(hex(0xA8761A), (x-0.28)/0.43)
		lid = lid.mul(0.85 + 0.15*math.Sin(y*260))
		col = col.mix(lid, c)
	}
	// Two dried chilies on the table.
	for _, p := range [][3]float64{{0.17, 0.86, 0.5}, {0.83, 0.9, -0.4}} {
		dx, dy := x-p[0], y-p[1]
		rx := dx*math.Cos(p[2]) - dy*math.Sin(p[2])
		ry := dx*math.Sin(p[2]) + dy*math.Cos(p[2])
		w := 0.03 * (1 - smooth(-0.02, 0.12, rx))
		d := math.Abs(ry+0.15*rx*rx) - w
		if rx > -0.1 && rx < 0.12 {
			col = col.mix(hex(0xD32F2F).mix(hex(0x7F0000), 0.5+ry*15), cover(d, 1.0/size))
		}
		if rx < -0.1 && rx > -0.14 && math.Abs(ry) < 0.012 {
			col = hex(0x4E7D2A)
		}
	}
	return col
}

func curedMeat(x, y float64) rgb {
	col := hex(0x3B2A20).mix(hex(0x1E1510), y).mul(0.8 + 0.3*fbm(x*4, y*4))
	// Smoke haze.
	col = col.add(rgb{0.18, 0.16, 0.14}.mul(smooth(0.7, 0.2, fbm(x*3+1, y*2)) * 0.5))
	// A bamboo pole.
	if math.Abs(y-0.12) < 0.025 {
		col = hex(0xC9A45C).mix(hex(0x7A5C2A), math.Abs(y-0.12)/0.025)
	}
	for i, cx := range []float64{0.24, 0.5, 0.76} {
		top, bot := 0.24+0.03*float64(i%2), 0.9-0.04*float64(i)
		// String.
		if math.Abs(x-cx) < 0.004 && y > 0.12 && y < top {
			col = hex(0xD8C9A8)
		}
		d := roundBox(x, y, cx, (top+bot)/2, 0.1, (bot-top)/2, 0.03)
		if c := cover(d, 1.0/size); c > 0 {
			// Layers: dark smoked skin, fat, lean, fat, lean.
			t := (x - (cx - 0.1)) / 0.2
			band := math.Mod(t*5+0.3*fbm(y*8, float64(i)), 5)
			var m rgb
			switch {
			case t < 0.12:
				m = hex(0x5A2E12)
			case band < 1.4:
				m = hex(0xE8C58A)
			case band < 2.6:
				m = hex(0x8E2A1A)
			case band < 3.3:
				m = hex(0xD9AE6C)
			default:
				m = hex(0x6E1E14)
			}
			m = m.mul(0.8 + 0.35*fbm(x*50, y*50))
			// Glossy smoked sheen towards the light.
			m = m.add(rgb{0.25, 0.18, 0.1}.mul(smooth(0.06, 0, math.Abs(t-0.7)) * 0.4))
			col = col.mix(m, c)
		}
	}
	return col
}

func honey(x, y float64) rgb {
	// Honeycomb: hex cells on a pointy-top grid.
	const cell = 0.075
	qx, qy := x/cell, y/cell
	row := math.Floor(qy / 0.866)
	ox := qx
	if int(row)%2 != 0 {
		ox -= 0.5
	}
	best, second := 9.0, 9.0
	for dr := -1.0; dr <= 1; dr++ {
		for dc := -1.0; dc <= 1; dc++ {
			r := row + dr
			cxv := math.Floor(ox) + dc + 0.5
			if int(r)%2 != 0 {
				cxv += 0.5
			}
			d := math.Hypot(qx-cxv, qy-(r+0.5)*0.866)
			if d < best {
				best, second = d, best
			} else if d < second {
				second = d
			}
		}
	}
	edge := second - best
	fill := hex(0xF7B733).mix(hex(0xC77800), best*1.6)
	fill = fill.add(rgb{1, 0.9, 0.5}.mul(smooth(0.35, 0, math.Hypot(x-0.3, y-0.3)) * 0.35))
	wax := hex(0xF3D27A)
	col := wax.mix(fill, smooth(0.03, 0.12, edge))
	// A glass jar of honey in front.
	d := roundBox(x, y, 0.62, 0.64, 0.2, 0.24, 0.07)
	if c := cover(d, 1.0/size); c > 0 {
		h := hex(0xF9A825).mix(hex(0xB35900), (y-0.4)/0.5)
		h = h.add(rgb{1, 1, 0.8}.mul(smooth(0.03, 0, math.Abs(x-0.49)) * 0.5))
		col = col.mul(0.5).mix(h, c)
	}
	d = roundBox(x, y, 0.62, 0.37, 0.16, 0.04, 0.015)
	col = col.mix(hex(0xF5EEDC).mix(hex(0xC9A86A), (x-0.46)/0.32), cover(d, 1.0/size))
	return col
}

func embroidery(x, y float64) rgb {
	cloth := hex(0x1B2140).mul(0.85 + 0.25*noise(x*size/2, y*size/2))
	col := cloth
	// Zigzag border stripes top and bottom.
	for _, by := range []float64{0.08, 0.92} {
		zz := math.Abs(math.Mod(x*20, 2)-1) * 0.04
		if math.Abs(y-by-zz+0.02) < 0.012 {
			col = hex(0xE53935)
		}
		if math.Abs(y-by) < 0.004 {
			col = hex(0xFDD835)
		}
	}
	// Lozenge motifs: concentric diamonds in red, pink, green, yellow.
	gx, gy := math.Mod(x*3+10, 1)-0.5, math.Mod((y-0.15)*3/0.7*0.7+10, 1)-0.5
	if y > 0.13 && y < 0.87 {
		d := math.Abs(gx) + math.Abs(gy)
		palette := []rgb{hex(0xE53935), hex(0xF06292), hex(0x43A047), hex(0xFDD835), hex(0xFF7043)}
		ring := int(d / 0.07)
		if d < 0.42 && math.Mod(d, 0.07) > 0.015 {
			col = palette[ring%len(palette)]
			// Thread texture: fine diagonal stitches.
			col = col.mul(0.78 + 0.22*math.Abs(math.Sin((x+y)*size*1.3)))
		}
		// Small cross stitches between motifs.
		if math.Abs(math.Abs(gx)-0.5) < 0.03 && math.Abs(math.Abs(gy)-0.5) < 0.03 {
			col = hex(0xFFFFFF).mul(0.9)
		}
	}
	return col
}

func silver(x, y float64) rgb {
	// Deep red velvet.
	col := hex(0x7A0E14).mix(hex(0x3A0508), math.Hypot(x-0.5, y-0.4)*1.4)
	col = col.mul(0.85 + 0.25*fbm(x*12, y*12))
	metal := func(t float64) rgb { // brushed silver ramp with a bright highlight
		base := hex(0x8C949C).mix(hex(0xE8EDF2), 0.5+0.5*math.Sin(t*6))
		return base.add(rgb{1, 1, 1}.mul(smooth(0.1, 0, math.Abs(math.Mod(t+10, 1)-0.3)) * 0.3))
	}
	// Necklace: a thick torus arc.
	r := math.Hypot(x-0.5, (y-0.18)*1.05)
	if d := math.Abs(r-0.42) - 0.022; d < 0.01 && y > 0.2 {
		t := (r - 0.42) / 0.022
		col = col.mul(0.6).mix(metal(t*0.8+x), cover(d, 1.0/size))
	}
	// Pendants hanging from the arc.
	for i := -3; i <= 3; i++ {
		a := float64(i) * 0.28
		px, py := 0.5+0.42*math.Sin(a), 0.18+0.42*math.Cos(a)/1.05
		d := math.Hypot(x-px, y-(py+0.06)) - 0.03
		if c := cover(d, 1.0/size); c > 0 {
			col = col.mix(metal((x-px)*12+(y-py)*8), c)
		}
		if math.Abs(x-px) < 0.003 && y > py && y < py+0.035 {
			col = hex(0xC0C7CE)
		}
	}
	// Bracelet: a flat ring in the front, engraved.
	rb := math.Hypot((x-0.5)*1.0, (y-0.8)*2.6)
	if d := math.Abs(rb-0.2) - 0.03; d < 0.01 {
		c := cover(d, 1.0/size)
		m := metal(x*2 + rb)
		if math.Sin(math.Atan2(y-0.8, x-0.5)*40) > 0.7 {
			m = m.mul(0.75)
		}
		col = col.mix(m, c)
	}
	return col
}

func render(s scene) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var acc rgb
			for sy := 0; sy < 2; sy++ {
				for sx := 0; sx < 2; sx++ {
					acc = acc.add(s((float64(px)+0.25+0.5*float64(sx))/size, (float64(py)+0.25+0.5*float64(sy))/size))
				}
			}
			acc = acc.mul(0.25)
			// Vignette and a whisper of grain make it read as a photo.
			v := 1 - 0.25*math.Pow(math.Hypot(float64(px)/size-0.5, float64(py)/size-0.5)*1.4, 2)
			g := (hash2(px, py) - 0.5) * 0.02
			to := func(c float64) uint8 { return uint8(clamp01(c*v+g)*255 + 0.5) }
			img.Set(px, py, color.RGBA{to(acc.r), to(acc.g), to(acc.b), 255})
		}
	}
	return img
}

func main() {
	out := flag.String("out", "overlay/testdata/demo/photos", "output folder")
	flag.Parse()
	scenes := map[string]scene{
		"lajiaojiang.jpg": chiliSauce,
		"larou.jpg":       curedMeat,
		"fengmi.jpg":      honey,
		"miaoxiu.jpg":     embroidery,
		"yinshi.jpg":      silver,
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for name, s := range scenes {
		f, err := os.Create(filepath.Join(*out, name))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := jpeg.Encode(f, render(s), &jpeg.Options{Quality: 80}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
