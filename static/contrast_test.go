package static

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Text colours in the site's and the sandbox's stylesheets meet WCAG 2.x
// AA: a contrast ratio of at least 4.5:1 with their background, 3:1 for
// large text (24 px, or 18.66 px bold). A rule that sets both a colour
// and a background is checked as a pair; a rule that sets only a colour
// is checked against every background its page puts text on (the page
// and the cards).
func TestStylesheets_TextContrastMeetsWCAGAA(t *testing.T) {
	sheets := []struct {
		file        string
		backgrounds []string // where text without a background of its own sits
	}{
		{"app.css", []string{"var(--bg)", "var(--card)"}},
		{"../wechat/sandbox/assets/sandbox.css", []string{"#ededed", "#f7f7f7", "#fff"}},
	}
	for _, sh := range sheets {
		src, err := os.ReadFile(sh.file)
		if err != nil {
			t.Fatal(err)
		}
		css := comments.ReplaceAllString(string(src), "")
		vars := map[string]string{}
		for _, m := range customProp.FindAllStringSubmatch(css, -1) {
			vars[m[1]] = strings.TrimSpace(m[2])
		}
		resolve := func(v string) (string, bool) {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "!important"))
			for i := 0; i < 5; i++ {
				m := varRef.FindStringSubmatch(v)
				if m == nil {
					break
				}
				v = vars[m[1]]
			}
			return v, hexColor.MatchString(v)
		}
		checked := 0
		for _, rule := range ruleRE.FindAllStringSubmatch(css, -1) {
			sel, decls := strings.TrimSpace(rule[1]), declarations(rule[2])
			fg, ok := resolve(decls["color"])
			if decls["color"] == "" || !ok {
				continue
			}
			bgs := sh.backgrounds
			if bg := firstNonEmpty(decls["background-color"], decls["background"]); bg != "" && bg != "none" && bg != "transparent" {
				bgs = []string{bg}
			}
			need := 4.5
			if large(decls) {
				need = 3
			}
			for _, b := range bgs {
				bg, ok := resolve(b)
				if !ok {
					continue
				}
				checked++
				if r := contrast(fg, bg); r < need {
					t.Errorf("%s: %s { color: %s } on %s: contrast %.2f:1, want at least %.1f:1", sh.file, sel, fg, bg, r, need)
				}
			}
		}
		if checked < 10 {
			t.Fatalf("%s: only %d colour pairs checked: the parser missed the rules", sh.file, checked)
		}
	}
}

// The grey of hints and secondary text, on every background the site puts
// it on: the page, cards, and the light badges.
func TestStylesheets_MutedGreyPassesAAOnItsBackgrounds(t *testing.T) {
	src, err := os.ReadFile("app.css")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`--muted:\s*(#[0-9a-fA-F]{3,6})`).FindStringSubmatch(string(src))
	if m == nil {
		t.Fatal("no --muted in app.css")
	}
	for _, bg := range []string{"#fff", "#f5f6f7", "#f0f1f3", "#f7f7f8"} {
		if r := contrast(m[1], bg); r < 4.5 {
			t.Errorf("--muted %s on %s: %.2f:1, want 4.5:1", m[1], bg, r)
		}
	}
}

func TestContrast_KnownValues(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want float64
	}{
		{"#000", "#fff", 21},
		{"#fff", "#fff", 1},
		{"#767676", "#fff", 4.54}, // the classic lightest grey that passes on white
	} {
		if got := contrast(tt.a, tt.b); math.Abs(got-tt.want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.3f, want %.2f", tt.a, tt.b, got, tt.want)
		}
	}
}

var (
	comments   = regexp.MustCompile(`(?s)/\*.*?\*/`)
	customProp = regexp.MustCompile(`(--[\w-]+)\s*:\s*([^;}]+)`)
	varRef     = regexp.MustCompile(`^var\((--[\w-]+)\)$`)
	hexColor   = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)
	ruleRE     = regexp.MustCompile(`([^{}]+)\{([^{}]*)\}`) // innermost rules, inside @media too
	fontPx     = regexp.MustCompile(`^([\d.]+)(px|rem|em)$`)
)

func declarations(block string) map[string]string {
	out := map[string]string{}
	for _, d := range strings.Split(block, ";") {
		k, v, ok := strings.Cut(d, ":")
		if ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// large: WCAG's large text, 18 pt (24 px), or 14 pt (18.66 px) bold.
func large(decls map[string]string) bool {
	m := fontPx.FindStringSubmatch(decls["font-size"])
	if m == nil {
		return false
	}
	px, _ := strconv.ParseFloat(m[1], 64)
	if m[2] != "px" {
		px *= 16
	}
	bold := decls["font-weight"] == "bold" || decls["font-weight"] >= "600"
	return px >= 24 || (bold && px >= 18.66)
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is WCAG's relative luminance of a #rgb or #rrggbb colour.
func luminance(hex string) float64 {
	h := strings.TrimPrefix(hex, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	var c [3]float64
	for i := range c {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			panic(fmt.Sprintf("bad colour %q", hex))
		}
		s := float64(v) / 255
		if s <= 0.03928 {
			c[i] = s / 12.92
		} else {
			c[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}
