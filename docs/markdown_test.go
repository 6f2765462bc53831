package docs_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// A doc is a Markdown file as the checks see it: its code, its links and
// the anchors of its headings, each with the line it is on.
type doc struct {
	path string
	// code holds the lines of fenced code blocks and the inline code
	// spans, in order.
	code []codeLine
	// blocks are the fenced code blocks, whole.
	blocks  []block
	links   []link
	anchors map[string]bool
}

// A codeLine is a line of a fenced block, or an inline code span.
type codeLine struct {
	line int
	text string
	// fenced is true for a line of a fenced block, which may continue on
	// the next line with a trailing backslash.
	fenced bool
	// shell is true for inline code and for the lines of a block of
	// shell commands (sh, bash, shell, console, zsh).
	shell bool
}

// A block is a fenced code block: its info string ("yaml
// examples/checkout.rules.yml"), the line of its opening fence, and its
// content.
type block struct {
	info    string
	line    int
	content string
}

type link struct {
	line int
	dest string
}

// A problem is one thing wrong in a doc, reported as file:line: message.
type problem struct {
	file string
	line int
	msg  string
}

func (p problem) String() string { return fmt.Sprintf("%s:%d: %s", p.file, p.line, p.msg) }

var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

// readDoc parses the Markdown file at path.
func readDoc(path string) (*doc, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := &doc{path: path, anchors: map[string]bool{}}
	lines := lineStarts(src)
	lineOf := func(offset int) int { return sort.SearchInts(lines, offset+1) }
	seen := map[string]int{}
	root := markdown.Parser().Parse(text.NewReader(src))
	err = ast.Walk(root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.FencedCodeBlock:
			var b block
			if n.Info != nil {
				b.info, b.line = string(n.Info.Segment.Value(src)), lineOf(n.Info.Segment.Start)
			}
			var content bytes.Buffer
			shell := shellLanguages[string(n.Language(src))]
			for i := 0; i < n.Lines().Len(); i++ {
				seg := n.Lines().At(i)
				content.Write(seg.Value(src))
				d.code = append(d.code, codeLine{line: lineOf(seg.Start), text: strings.TrimRight(string(seg.Value(src)), "\n"), fenced: true, shell: shell})
				if b.line == 0 {
					b.line = lineOf(seg.Start) - 1
				}
			}
			b.content = content.String()
			d.blocks = append(d.blocks, b)
			return ast.WalkSkipChildren, nil
		case *ast.CodeSpan:
			d.code = append(d.code, codeLine{line: lineOf(firstOffset(n)), text: plainText(n, src), shell: true})
			return ast.WalkSkipChildren, nil
		case *ast.Link:
			d.links = append(d.links, link{line: lineOf(firstOffset(n)), dest: string(n.Destination)})
		case *ast.Image:
			d.links = append(d.links, link{line: lineOf(firstOffset(n)), dest: string(n.Destination)})
		case *ast.Heading:
			slug := slugify(plainText(n, src))
			if k := seen[slug]; k > 0 {
				d.anchors[fmt.Sprintf("%s-%d", slug, k)] = true
			} else {
				d.anchors[slug] = true
			}
			seen[slug]++
		}
		return ast.WalkContinue, nil
	})
	return d, err
}

// shellLanguages are the info strings of blocks of shell commands.
var shellLanguages = map[string]bool{"sh": true, "bash": true, "shell": true, "console": true, "zsh": true}

// lineStarts returns the offset at which each line of src starts.
func lineStarts(src []byte) []int {
	starts := []int{0}
	for i, c := range src {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// firstOffset is the source offset of the first text below n, or -1.
func firstOffset(n ast.Node) int {
	off := -1
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if t, ok := c.(*ast.Text); ok && entering {
			off = t.Segment.Start
			return ast.WalkStop, nil
		}
		return ast.WalkContinue, nil
	})
	return off
}

// plainText is the text below n, without markup.
func plainText(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(src))
			if c.SoftLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// slugify makes a heading's anchor as GitHub does: lower case, letters,
// digits, spaces, hyphens and underscores kept, spaces made hyphens.
func slugify(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// scheme matches a link with a URL scheme, such as https: or mailto:.
var scheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

// checkLinks reports every relative link of d that points at no file, or
// at a heading its Markdown file does not have.
func checkLinks(d *doc, read func(string) (*doc, error)) []problem {
	var out []problem
	for _, l := range d.links {
		if l.dest == "" || scheme.MatchString(l.dest) {
			continue
		}
		target, anchor, _ := strings.Cut(l.dest, "#")
		target, _, _ = strings.Cut(target, "?")
		file := d.path
		if target != "" {
			file = filepath.Join(filepath.Dir(d.path), filepath.FromSlash(target))
			if _, err := os.Stat(file); err != nil {
				out = append(out, problem{d.path, l.line, fmt.Sprintf("link %s: %s does not exist", l.dest, file)})
				continue
			}
		}
		if anchor == "" || !strings.HasSuffix(file, ".md") {
			continue
		}
		t, err := read(file)
		if err != nil {
			out = append(out, problem{d.path, l.line, fmt.Sprintf("link %s: %v", l.dest, err)})
			continue
		}
		if !t.anchors[anchor] {
			out = append(out, problem{d.path, l.line, fmt.Sprintf("link %s: %s has no heading #%s", l.dest, file, anchor)})
		}
	}
	return out
}
