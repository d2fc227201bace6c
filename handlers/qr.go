package handlers

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"

	"github.com/yeqown/go-qrcode/v2"
)

// qrDataURL renders text as a QR code PNG and returns it as a data: URL, so
// the page carries the image and no URL ever exposes the one-time token.
func qrDataURL(text string) (string, error) {
	png, err := qrPNG(text, 6)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}

// qrPNG draws the QR code of text with scale pixels per module and the
// standard four-module quiet zone.
func qrPNG(text string, scale int) ([]byte, error) {
	q, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return nil, err
	}
	w := &pngWriter{scale: scale}
	if err := q.Save(w); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

// pngWriter is a go-qrcode Writer that draws a black-and-white paletted PNG.
type pngWriter struct {
	scale int
	buf   bytes.Buffer
}

func (p *pngWriter) Write(m qrcode.Matrix) error {
	const quiet = 4
	bits := m.Bitmap()
	n := len(bits)
	size := (n + 2*quiet) * p.scale
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y, row := range bits {
		for x, on := range row {
			if !on {
				continue
			}
			x0, y0 := (x+quiet)*p.scale, (y+quiet)*p.scale
			for dy := range p.scale {
				off := img.PixOffset(x0, y0+dy)
				for dx := range p.scale {
					img.Pix[off+dx] = 1
				}
			}
		}
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	return enc.Encode(&p.buf, img)
}

func (p *pngWriter) Close() error { return nil }
