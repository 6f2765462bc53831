package discord

import (
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/klaxonhq/klaxon/pkg/notify"
)

// zwsp is a zero-width space. Put after "@", it keeps "@everyone",
// "@here", "<@id>" and "<@&id>" from being read, or even shown, as
// mentions, while the text looks the same.
const zwsp = "\u200b"

// neutralise makes every "@" in s unable to start a mention.
func neutralise(s string) string {
	return strings.ReplaceAll(s, "@", "@"+zwsp)
}

// markdownSpecial are the characters that start Discord markdown anywhere
// in a line: emphasis, strike, code, spoilers, masked links, headings,
// quotes, and the "<...>" forms of mentions, channels, emoji and
// timestamps.
const markdownSpecial = "\\*_~`|[]()<>#"

// escape makes alert-provided text inert: markdown shows as typed and no
// mention can ping or render. A backslash before punctuation is hidden by
// Discord.
func escape(s string) string {
	var b strings.Builder
	lineStart := true
	for _, r := range s {
		switch {
		case r == '@':
			b.WriteString("@" + zwsp)
		case strings.ContainsRune(markdownSpecial, r), lineStart && (r == '-' || r == '+'):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
		if r == '\n' {
			lineStart = true
		} else if r != ' ' && r != '\t' {
			lineStart = false
		}
	}
	return b.String()
}

// safeURL returns raw as a link target that cannot break out of markdown's
// "(...)": an absolute http(s) URL without user info, with the characters
// that end a link or start a mention percent-encoded.
func safeURL(raw string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", false
	}
	return urlEscaper.Replace(u.String()), true
}

var urlEscaper = strings.NewReplacer("(", "%28", ")", "%29", "<", "%3C", ">", "%3E",
	"@", "%40", " ", "%20", "\\", "%5C", "`", "%60", "[", "%5B", "]", "%5D")

// mdLink is a markdown link to raw with the given text, if raw is a web
// address.
func mdLink(text, raw string) (string, bool) {
	u, ok := safeURL(raw)
	if !ok {
		return "", false
	}
	return "[" + text + "](" + u + ")", true
}

// linkText names a link by its host and path, escaped and short.
func linkText(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "link"
	}
	s, _ := notify.Truncate(strings.TrimSuffix(u.Host+u.Path, "/"), 60)
	return escape(s)
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// Classes of text, in the order fit cuts them.
const (
	classDetail = iota // label and annotation fields
	classBody          // the description's text
	classKeep          // titles, footers, runbook and "and N more" fields
)

// detailFloor and bodyFloor are as short as fit cuts details and bodies
// before it drops details.
const (
	detailFloor = 32
	bodyFloor   = 160
)

// text is one string of an embed that counts towards Discord's limits.
type text struct {
	s     *string
	limit int
	class int
	// whole texts hold links and are never cut.
	whole bool
}

// texts lists the strings of e that count towards Discord's limits, each
// with its own limit. The description's links are whole, so the body's
// limit leaves room for them.
func (e *embed) texts() []text {
	body := maxDescription
	if e.links != "" {
		body -= runes(e.links) + 2
	}
	out := []text{
		{s: &e.Title, limit: maxTitle, class: classKeep},
		{s: &e.body, limit: body, class: classBody},
		{s: &e.links, limit: maxDescription, class: classKeep, whole: true},
	}
	if e.Footer != nil {
		out = append(out, text{s: &e.Footer.Text, limit: maxFooter, class: classKeep})
	}
	for i := range e.Fields {
		f := &e.Fields[i]
		class := classKeep
		if f.detail {
			class = classDetail
		}
		out = append(out, text{s: &f.Name, limit: maxFieldName, class: class},
			text{s: &f.Value, limit: maxFieldValue, class: class, whole: f.whole})
	}
	return out
}

// size is what e counts towards maxEmbedTotal once assembled.
func (e *embed) size() int {
	n := 0
	for _, t := range e.texts() {
		n += runes(*t.s)
	}
	if e.body != "" && e.links != "" {
		n += 2 // the "\n\n" between them
	}
	return n
}

func totalSize(embeds []embed) int {
	n := 0
	for i := range embeds {
		n += embeds[i].size()
	}
	return n
}

// wholeSize is how much of the embeds' budget their links take.
func wholeSize(embeds []embed) int {
	n := 0
	for i := range embeds {
		for _, t := range embeds[i].texts() {
			if t.whole {
				n += runes(*t.s)
			}
		}
	}
	return n
}

// fit holds Discord's limits on embeds. Every text is first cut to its
// own limit. If all embeds together still exceed maxEmbedTotal, fit cuts
// the longest details to a common length (down to detailFloor), then the
// bodies (down to bodyFloor), then drops details, last first, from the
// embeds that have most, then cuts bodies further, then everything else;
// so titles and runbooks survive longest. Links are never cut. It logs a warning when it cuts or drops anything.
func fit(logger *slog.Logger, embeds []embed) {
	cut := 0
	for i := range embeds {
		for _, t := range embeds[i].texts() {
			*t.s = strings.TrimSpace(*t.s)
			if s, ok := notify.Truncate(*t.s, t.limit); ok && !t.whole {
				*t.s, cut = s, cut+1
			}
		}
	}
	cut += shrinkClass(embeds, classDetail, detailFloor)
	cut += shrinkClass(embeds, classBody, bodyFloor)
	dropped := 0
	for totalSize(embeds) > maxEmbedTotal && dropFrom(embeds) {
		dropped++
	}
	cut += shrinkClass(embeds, classBody, 1)
	cut += shrinkClass(embeds, classKeep, 1)
	for i := range embeds {
		e := &embeds[i]
		e.Description = strings.TrimSpace(e.body + "\n\n" + e.links)
	}
	if cut > 0 || dropped > 0 {
		logger.Warn("discord message truncated to fit Discord's limits", "texts_cut", cut, "fields_dropped", dropped, "embeds", len(embeds))
	}
}

// dropFrom drops a detail from the embed that has most fields, the later
// embed on a tie.
func dropFrom(embeds []embed) bool {
	best := -1
	for i := range embeds {
		if best < 0 || len(embeds[i].Fields) >= len(embeds[best].Fields) {
			if slices.ContainsFunc(embeds[i].Fields, func(f field) bool { return f.detail }) {
				best = i
			}
		}
	}
	return best >= 0 && embeds[best].dropDetail()
}

// shrinkClass cuts the texts of one class that are longer than the
// largest common length, not below floor, that brings the embeds within
// maxEmbedTotal, and returns how many it cut.
func shrinkClass(embeds []embed, class, floor int) int {
	over := totalSize(embeds) - maxEmbedTotal
	if over <= 0 {
		return 0
	}
	var texts []text
	for i := range embeds {
		for _, t := range embeds[i].texts() {
			if t.class == class && !t.whole {
				texts = append(texts, t)
			}
		}
	}
	budget := capped(texts, math.MaxInt) - over
	c := floor
	for lo, hi := floor, longest(texts); lo <= hi; {
		mid := lo + (hi-lo)/2
		if capped(texts, mid) <= budget {
			c, lo = mid, mid+1
		} else {
			hi = mid - 1
		}
	}
	n := 0
	for _, t := range texts {
		if s, ok := notify.Truncate(*t.s, c); ok {
			*t.s, n = strings.TrimSpace(s), n+1
		}
	}
	return n
}

func longest(texts []text) int {
	n := 0
	for _, t := range texts {
		n = max(n, runes(*t.s))
	}
	return n
}

func capped(texts []text, c int) int {
	sum := 0
	for _, t := range texts {
		sum += min(runes(*t.s), c)
	}
	return sum
}
