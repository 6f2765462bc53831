package docs_test

import (
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
)

// A cli is what a binary's help says it accepts: its commands, and the
// flags of each.
type cli struct {
	name string
	root *command
}

// A command is the root of a binary or one of its (sub-)commands.
type command struct {
	path     []string
	flags    map[string]flagInfo
	children map[string]*command
	// def is the child run when none is named ("serve", "list").
	def string
}

type flagInfo struct {
	// value is true for a flag that takes a value (--config.file=FILE);
	// a boolean flag also has its --no- form.
	value bool
}

// The flags kingpin adds to every command without listing them.
var kingpinFlags = []string{"help-long", "help-man", "completion-bash", "completion-script-bash", "completion-script-zsh"}

// loadCLI reads the help of the binary at bin, and of each of its
// commands, by running it.
func loadCLI(name, bin string) (*cli, error) {
	c := &cli{name: name, root: &command{children: map[string]*command{}}}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s --help: %w\n%s", name, err, out)
	}
	c.root.flags = parseFlags(string(out))
	for _, synopsis := range parseCommands(string(out)) {
		c.add(synopsis)
	}
	var load func(*command) error
	load = func(cmd *command) error {
		for _, child := range cmd.children {
			if len(child.path) == 1 && child.path[0] == "help" {
				child.flags = c.root.flags
				continue
			}
			out, err := exec.Command(bin, append([]string{"help"}, child.path...)...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s help %s: %w\n%s", name, strings.Join(child.path, " "), err, out)
			}
			child.flags = parseFlags(string(out))
			if err := load(child); err != nil {
				return err
			}
		}
		return nil
	}
	return c, load(c.root)
}

// add records a command of a "Commands:" list, such as "dead-letters
// retry [<id>...]" or "serve* [<flags>]", with its parents.
func (c *cli) add(synopsis string) {
	cmd := c.root
	for _, word := range strings.Fields(synopsis) {
		if strings.ContainsAny(word[:1], "[<-") {
			break
		}
		name, isDefault := strings.CutSuffix(word, "*")
		child := cmd.children[name]
		if child == nil {
			child = &command{path: append(slices.Clone(cmd.path), name), children: map[string]*command{}}
			cmd.children[name] = child
		}
		if isDefault {
			cmd.def = name
		}
		cmd = child
	}
}

// flagLine matches a flag in kingpin's help: "  -h, --[no-]help",
// "      --config.file=CONFIG.FILE".
var flagLine = regexp.MustCompile(`^\s+(?:-\w, )?--(\[no-\])?([A-Za-z0-9][\w.-]*)(=)?`)

func parseFlags(help string) map[string]flagInfo {
	flags := map[string]flagInfo{}
	for _, line := range strings.Split(help, "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			flags[m[2]] = flagInfo{value: m[3] == "="}
		}
	}
	for _, f := range kingpinFlags {
		flags[f] = flagInfo{}
	}
	return flags
}

// parseCommands returns the synopses of a "Commands:" list.
func parseCommands(help string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(help, "\n") {
		switch {
		case line == "Commands:" || line == "Subcommands:":
			in = true
		case in && line != "" && !strings.HasPrefix(line, " "):
			out = append(out, line)
		}
	}
	return out
}

// isBinary reports whether a token of a command line runs the binary:
// "klaxon-receiver", "./klaxon-receiver", "bin/klaxon-receiver",
// "/usr/local/bin/klaxon-receiver", "ExecStart=/usr/bin/klaxon-receiver";
// not "statefulset/klaxon-receiver" or "app=klaxon-receiver", which name
// other things.
func (c *cli) isBinary(tok string) bool {
	tok = strings.TrimLeft(tok, "[(")
	if tok == c.name {
		return true
	}
	if _, v, ok := strings.Cut(tok, "="); ok {
		tok = v
		if !strings.Contains(tok, "/") {
			return false
		}
	}
	dir, ok := strings.CutSuffix(tok, "/"+c.name)
	return ok && (dir == "." || dir == "" || strings.HasPrefix(dir, "/") || dir == "bin" || strings.HasSuffix(dir, "/bin"))
}

// commandWord matches what can be a command's name.
var commandWord = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// check checks the arguments that follow the binary on a command line
// and returns what is wrong, with the line each is on. In prose, a word
// that is not a command ends the check quietly; flags are still checked.
func (c *cli) check(args []token, prose bool) []problem {
	var out []problem
	at := []*command{c.root}
	wild, inArgs := false, false
	for i := 0; i < len(args); i++ {
		raw := args[i].text
		if endsCommand(raw) {
			break
		}
		if raw == "|" {
			// "check-config | send-test ..." in a synopsis lists
			// alternatives; anything else is a shell pipe.
			next := nextWord(args[i+1:])
			if strings.HasPrefix(next, "-") {
				continue
			}
			if len(at) > 1 && at[len(at)-2].children[next] != nil {
				at, inArgs = at[:len(at)-1], false
				continue
			}
			if c.root.children[next] != nil {
				at, inArgs = at[:1], false
				continue
			}
			break
		}
		word := strip(raw)
		cur := at[len(at)-1]
		switch {
		case word == "" || word == "-" || word == "--":
		case strings.HasPrefix(word, "-"):
			name, hasValue := flagName(word)
			f, ok := c.lookup(at, name, wild)
			if !ok {
				out = append(out, problem{line: args[i].line, msg: fmt.Sprintf("%s: unknown flag %s%s", c.describe(at), dashes(word), name)})
				continue
			}
			if f.value && !hasValue {
				i++ // its value
			}
		case wild || inArgs || len(cur.children) == 0:
			inArgs = true
		case cur.children[word] != nil:
			at = append(at, cur.children[word])
		case placeholder(word):
			wild = true
		case prose || !commandWord.MatchString(word):
			// Text about the binary, not a command: "# klaxon-receiver
			// for the team", "[TEST] klaxon-receiver send-test: channel",
			// "klaxon-receiver ─► Slack".
			return out
		default:
			out = append(out, problem{line: args[i].line, msg: fmt.Sprintf("%s: unknown command %q (commands: %s)", c.describe(at), word, strings.Join(childNames(cur), ", "))})
			return out
		}
	}
	return out
}

// lookup finds a flag given by the doc as name (no dashes, no value):
// "config.file", "no-collector.cpu", "collector.<name>", "[no-]web.systemd-socket".
func (c *cli) lookup(at []*command, name string, wild bool) (flagInfo, bool) {
	flags := c.flags(at, wild)
	if f, ok := flags[name]; ok {
		return f, true
	}
	bare, negated := strings.CutPrefix(name, "[no-]")
	if !negated {
		bare, negated = strings.CutPrefix(name, "no-")
	}
	match := func(n string) bool { return n == bare }
	if strings.Contains(bare, "<") {
		re := regexp.MustCompile("^" + regexp.MustCompile(`<[^>]*>`).ReplaceAllString(regexp.QuoteMeta(bare), `[a-z0-9_-]+`) + "$")
		match = re.MatchString
	}
	for n, f := range flags {
		if match(n) && (!negated || !f.value) {
			return f, true
		}
	}
	return flagInfo{}, false
}

// flags are the flags valid at the command at the end of at: its own
// (which include its parents'), and those of its default child when
// none is named; with wild, every command's.
func (c *cli) flags(at []*command, wild bool) map[string]flagInfo {
	out := map[string]flagInfo{}
	var add func(*command, bool)
	add = func(cmd *command, all bool) {
		for n, f := range cmd.flags {
			out[n] = f
		}
		for name, child := range cmd.children {
			if all || name == cmd.def {
				add(child, all)
			}
		}
	}
	add(at[len(at)-1], wild)
	return out
}

func (c *cli) describe(at []*command) string {
	return strings.Join(append([]string{c.name}, at[len(at)-1].path...), " ")
}

func childNames(cmd *command) []string {
	var names []string
	for n := range cmd.children {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// flagName returns a flag token's name without dashes and value, and
// whether the value is part of the token.
func flagName(tok string) (string, bool) {
	name := strings.TrimLeft(tok, "-")
	name, _, hasValue := strings.Cut(name, "=")
	return name, hasValue
}

func dashes(tok string) string { return tok[:len(tok)-len(strings.TrimLeft(tok, "-"))] }

// strip removes the brackets and ellipses of a synopsis: "[--at" is
// "--at", "[ID...]]" is "ID".
func strip(tok string) string {
	tok = strings.TrimLeft(tok, "[(")
	for {
		t := strings.TrimRight(tok, "])")
		t = strings.TrimSuffix(strings.TrimSuffix(t, "..."), "…")
		if t == tok {
			return tok
		}
		tok = t
	}
}

// placeholder reports whether a word stands for something: ID, NAME,
// <command>, $CMD.
func placeholder(word string) bool {
	return strings.ContainsAny(word, "<${") || upperWord.MatchString(word)
}

var upperWord = regexp.MustCompile(`^[A-Z][A-Z0-9_.-]*$`)

// endsCommand reports whether a token ends a shell command: a comment,
// a redirection, a separator.
func endsCommand(tok string) bool {
	switch tok {
	case "&&", "||", ";", "&", "<", "<<":
		return true
	}
	return strings.HasPrefix(tok, "#") || strings.HasPrefix(tok, ">") || strings.HasPrefix(tok, "2>") || strings.HasSuffix(tok, ";")
}

func nextWord(args []token) string {
	for _, a := range args {
		if w := strip(a.text); w != "" {
			return w
		}
	}
	return ""
}

// A token is a word of a command line and the line it is on.
type token struct {
	text string
	line int
}

// tokenize splits a line as a shell would, keeping quoted words whole
// and dropping the quotes. An unmatched quote runs to the end.
func tokenize(line string, n int) []token {
	var out []token
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				out = append(out, token{cur.String(), n})
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, token{cur.String(), n})
	}
	return out
}

// A commandLine is a logical line of code: its words, and whether it is
// shell (inline code, or a block of shell commands).
type commandLine struct {
	tokens []token
	shell  bool
}

// commandLines joins the code of a doc into logical lines: a fenced line
// ending in a backslash continues on the next one. Table cells escape
// "|" as "\|".
func commandLines(code []codeLine) []commandLine {
	var out []commandLine
	var cur []token
	for i, l := range code {
		text := strings.ReplaceAll(l.text, `\|`, "|")
		cont := l.fenced && strings.HasSuffix(strings.TrimRight(text, " "), `\`) && i+1 < len(code) && code[i+1].fenced
		if cont {
			text = strings.TrimSuffix(strings.TrimRight(text, " "), `\`)
		}
		cur = append(cur, tokenize(text, l.line)...)
		if !cont {
			out = append(out, commandLine{tokens: cur, shell: l.shell})
			cur = nil
		}
	}
	return out
}

// checkCommands checks every command line of d that runs one of clis.
func checkCommands(d *doc, clis []*cli) []problem {
	var out []problem
	for _, cl := range commandLines(d.code) {
		toks := cl.tokens
		for i := 0; i < len(toks); i++ {
			for _, c := range clis {
				if !c.isBinary(toks[i].text) || (i > 0 && strings.HasPrefix(toks[i-1].text, "-") && !strings.Contains(toks[i-1].text, "=")) {
					// A binary's name after a flag of another program is
					// its value: podman --name klaxon-receiver, go build -o.
					continue
				}
				end := i + 1
				for end < len(toks) && !isAnyBinary(clis, toks[end].text) {
					end++
				}
				// Outside shell, and in a shell comment, the binary's name
				// may begin prose or a listing rather than a command.
				prose := !cl.shell || slices.ContainsFunc(toks[:i], func(t token) bool { return strings.HasPrefix(t.text, "#") })
				for _, p := range c.check(toks[i+1:end], prose) {
					p.file = d.path
					out = append(out, p)
				}
			}
		}
	}
	return out
}

func isAnyBinary(clis []*cli, tok string) bool {
	for _, c := range clis {
		if c.isBinary(tok) {
			return true
		}
	}
	return false
}
