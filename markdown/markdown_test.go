package markdown_test

import (
	"strings"
	"testing"

	"github.com/wxpush/wxpush/markdown"
)

// TestHTML_SenderCannotRunScript: whatever a sender writes, the rendered
// page carries no element, attribute or URL that runs script.
func TestHTML_SenderCannotRunScript(t *testing.T) {
	tests := []struct{ name, src string }{
		{"script block", "<script>alert(1)</script>"},
		{"inline script", "hello <script>alert(1)</script> world"},
		{"img onerror", `<img src=x onerror="alert(1)">`},
		{"iframe", `<iframe src="https://evil.example"></iframe>`},
		{"javascript link", "[点我](javascript:alert(1))"},
		{"javascript link upper case", "[点我](JAVASCRIPT:alert(1))"},
		{"javascript autolink", "<javascript:alert(1)>"},
		{"vbscript link", "[x](vbscript:msgbox(1))"},
		{"data html link", "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"},
		{"javascript image", "![x](javascript:alert(1))"},
		{"svg", `<svg onload="alert(1)"></svg>`},
		{"style", `<style>body{display:none}</style>`},
		{"attribute breakout", `[x](https://a.example/"onmouseover="alert(1))`},
		{"html entity javascript", "[x](&#106;avascript:alert(1))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := strings.ToLower(markdown.HTML(tt.src))
			for _, bad := range []string{"<script", "<img src=x", " onerror=", " onload=", " onmouseover=", "<iframe", "<svg", "<style",
				`href="javascript:`, `src="javascript:`, `href="vbscript:`, `href="data:text/html`} {
				if strings.Contains(out, bad) {
					t.Errorf("%q renders %q, containing %q", tt.src, out, bad)
				}
			}
		})
	}
}

func TestHTML_LinksAreNoopenerNofollow(t *testing.T) {
	out := markdown.HTML("[站点](https://example.com/a) 和 https://auto.example.com/b 以及 <https://angle.example.com>")
	if n := strings.Count(out, `<a `); n != 3 {
		t.Fatalf("%d links in %s", n, out)
	}
	if n := strings.Count(out, `rel="noopener nofollow"`); n != 3 {
		t.Errorf("%d of 3 links have rel=noopener nofollow: %s", n, out)
	}
	if !strings.Contains(out, `href="https://example.com/a"`) {
		t.Errorf("link target lost: %s", out)
	}
}

func TestHTML_TablesCodeAndLineBreaks(t *testing.T) {
	out := markdown.HTML("# 日报\n\n| 服务 | 状态 |\n|---|---|\n| api | 正常 |\n\n```\nline 1\n  line 2\n```\n\nCPU: 95%\n内存: 80%")
	for _, want := range []string{"<h1>日报</h1>", "<table>", "<td>正常</td>", "<pre><code>line 1\n  line 2\n</code></pre>", "CPU: 95%<br>"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestPlainText_DropsMarkup(t *testing.T) {
	tests := []struct{ src, want string }{
		{"# 部署完成\n\n**v1.2.3** 已上线，详见 [发布说明](https://example.com)。", "部署完成\nv1.2.3 已上线，详见 发布说明。"},
		{"<b>粗</b>体", "粗体"},
		{"`code` 段\n\n```\nblock\n```", "code 段\nblock"},
		{"- 一\n- 二", "一\n二"},
		{"![图片说明](https://x.example/a.png)", "图片说明"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := markdown.PlainText(tt.src); got != tt.want {
			t.Errorf("PlainText(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}
