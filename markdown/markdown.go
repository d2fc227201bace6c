// Package markdown renders the Markdown content of messages for their
// detail pages, safely: senders are programs and admins, readers are
// anyone holding a message's link, so nothing a sender writes may run in
// the reader's browser.
//
// goldmark does the work (CommonMark plus GitHub's tables, strikethrough,
// task lists and autolinks). Its HTML renderer is used without WithUnsafe:
// raw HTML in the source is dropped ("<!-- raw HTML omitted -->") and
// links or images with javascript:, vbscript:, file: or non-image data:
// URLs lose their URL. Links get rel="noopener nofollow".
package markdown

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// linkRel marks every link as leading somewhere the site does not vouch
// for (nofollow) and gives the opened page no handle on this one (noopener).
const linkRel = "noopener nofollow"

// relTransformer sets rel on links and autolinks, and lets images load
// lazily without sending the detail page's URL (which is its key) as the
// referrer.
type relTransformer struct{}

func (relTransformer) Transform(doc *ast.Document, _ text.Reader, _ parser.Context) {
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n.(type) {
		case *ast.Link, *ast.AutoLink:
			n.SetAttributeString("rel", []byte(linkRel))
			n.SetAttributeString("referrerpolicy", []byte("no-referrer"))
		case *ast.Image:
			n.SetAttributeString("loading", []byte("lazy"))
			n.SetAttributeString("referrerpolicy", []byte("no-referrer"))
		}
		return ast.WalkContinue, nil
	})
}

var md = goldmark.New(
	goldmark.WithExtensions(extension.GFM, extension.CJK),
	goldmark.WithParserOptions(
		parser.WithASTTransformers(util.Prioritized(relTransformer{}, 100)),
	),
	// A newline in the source is a line break on the page: notifications
	// are written line by line ("CPU: 95%\n内存: 80%"), and CommonMark
	// would run such lines together. No html.WithUnsafe(): raw HTML stays
	// out (see the package comment).
	goldmark.WithRendererOptions(html.WithHardWraps()),
)

// HTML renders Markdown source as HTML that is safe to put in a page.
func HTML(src string) string {
	var b bytes.Buffer
	if err := md.Convert([]byte(src), &b); err != nil {
		// goldmark only fails when writing fails; a bytes.Buffer does not.
		return ""
	}
	return b.String()
}

// PlainText is the text a reader sees in the rendered Markdown, without
// markup: blocks separated by newlines, link targets and images' URLs
// left out. It feeds summaries (a card has no room for markup).
func PlainText(src string) string {
	source := []byte(src)
	doc := md.Parser().Parse(text.NewReader(source))
	var b strings.Builder
	block := func() {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteByte('\n')
		}
	}
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if n.Type() == ast.TypeBlock && entering {
			block()
		}
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Text:
			b.Write(n.Segment.Value(source))
			if n.SoftLineBreak() || n.HardLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(n.Value)
		case *ast.AutoLink:
			b.Write(n.Label(source))
		case *ast.CodeSpan:
			for c := n.FirstChild(); c != nil; c = c.NextSibling() {
				if t, ok := c.(*ast.Text); ok {
					b.Write(t.Segment.Value(source))
				}
			}
			return ast.WalkSkipChildren, nil
		case *ast.FencedCodeBlock, *ast.CodeBlock:
			lines := n.Lines()
			for i := range lines.Len() {
				seg := lines.At(i)
				b.Write(seg.Value(source))
			}
			return ast.WalkSkipChildren, nil
		case *ast.RawHTML, *ast.HTMLBlock:
			return ast.WalkSkipChildren, nil
		case *ast.Image:
			// The alt text stands for the image.
			return ast.WalkContinue, nil
		}
		return ast.WalkContinue, nil
	})
	return strings.TrimSpace(b.String())
}
