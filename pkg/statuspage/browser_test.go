package statuspage

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/klaxonhq/klaxon/internal/testenv"
	"github.com/klaxonhq/klaxon/pkg/acklink"
)

// The browser tests drive Debian's chromium, headless, over the Chrome
// DevTools Protocol on a pipe (--remote-debugging-pipe: commands on file
// descriptor 3, replies on 4, each message ending in a NUL byte), so they
// need no WebSocket library.

// browserWait bounds each wait on the browser. It is a give-up time for a
// stuck browser, not an assertion on speed.
const browserWait = 2 * time.Minute

// phone is the viewport the pages are tested in.
var phone = map[string]any{"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}

func TestBrowserStatusPageAck(t *testing.T) {
	b, srv, src := startBrowserTest(t)
	tab := b.newTab(t)
	tab.navigate(t, srv.URL+"/", "Klaxon status")
	for _, want := range []string{"DiskFull: db1 /var at 97%", "Firing, not acknowledged", "On call now", "alice"} {
		if text := tab.eval(t, "document.body.innerText"); !bytes.Contains([]byte(text), []byte(want)) {
			t.Errorf("the page does not show %q:\n%s", want, text)
		}
	}
	// Readable on a phone: one column, nothing wider than the screen.
	if got := tab.eval(t, "String(document.documentElement.scrollWidth <= window.innerWidth)"); got != "true" {
		t.Errorf("the page scrolls sideways at %v px", phone["width"])
	}
	tab.screenshot(t, "status-page.png")

	card := "#incident-" + diskID
	tab.typeInto(t, card+" input[name=name]", "alice")
	tab.click(t, card+" button")
	testenv.Eventually(t, browserWait, func() error {
		state, err := tab.tryEval(fmt.Sprintf("document.querySelector(%q).innerText", card+" .state"))
		if err != nil {
			return err
		}
		if want := "Acknowledged by alice, Sat 14 Mar 09:30 UTC"; state != want {
			return fmt.Errorf("the incident's state reads %q, want %q", state, want)
		}
		return nil
	})
	if got, want := src.Acks(), []ackCall{{diskID, "alice"}}; !slices.Equal(got, want) {
		t.Errorf("acks = %v, want %v", got, want)
	}
	tab.screenshot(t, "status-page-acknowledged.png")
}

func TestBrowserAckLink(t *testing.T) {
	b, srv, src := startBrowserTest(t)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	link := b.signer.URL(u, diskID, testNow.Add(time.Hour))
	tab := b.newTab(t)
	// Opening the link, as a preview would, acknowledges nothing.
	tab.navigate(t, link, "Acknowledge this incident?")
	if acks := src.Acks(); len(acks) != 0 {
		t.Fatalf("opening the link acknowledged %v", acks)
	}
	tab.screenshot(t, "ack-link-confirm.png")
	tab.click(t, "form.confirm button")
	tab.awaitTitle(t, "Acknowledged")
	if got, want := src.Acks(), []ackCall{{diskID, "link"}}; !slices.Equal(got, want) {
		t.Errorf("acks = %v, want %v", got, want)
	}
	// Reloading resubmits the form: the link is used up.
	tab.navigate(t, link, "Acknowledge this incident?")
	tab.click(t, "form.confirm button")
	tab.awaitTitle(t, "Link already used")
	if acks := src.Acks(); len(acks) != 1 {
		t.Errorf("acks = %v after the replay, want one", acks)
	}
}

// startBrowserTest serves the pages on a real port and starts chromium.
func startBrowserTest(t *testing.T) (*browser, *httptest.Server, *fakeSource) {
	t.Helper()
	path := testenv.Program(t, "chromium")
	signer, err := acklink.NewSigner(testKey)
	if err != nil {
		t.Fatal(err)
	}
	src := newFakeSource()
	nonces := &acklink.MemoryNonces{Now: func() time.Time { return testNow }}
	h := New(src, signer, nonces, Options{Now: func() time.Time { return testNow }, Logger: promslog.NewNopLogger()})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b := startBrowser(t, path)
	b.signer = signer
	return b, srv, src
}

// artefact is where a test keeps a file for people to look at:
// $KLAXON_ARTEFACTS when set, else the test's temporary directory.
func artefact(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("KLAXON_ARTEFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// browser is a headless chromium and its DevTools pipe.
type browser struct {
	toChrome io.Writer
	signer   *acklink.Signer

	mu      sync.Mutex
	nextID  int
	pending map[int]chan cdpMessage
	closed  error // set when the pipe from chromium ends
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Params    any             `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func startBrowser(t *testing.T, path string) *browser {
	t.Helper()
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	replyR, replyW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-crash-reporter", "--disable-dev-shm-usage", "--hide-scrollbars", "--force-color-profile=srgb",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.ExtraFiles = []*os.File{cmdR, replyW} // file descriptors 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	cmdR.Close()
	replyW.Close()
	b := &browser{toChrome: cmdW, pending: map[int]chan cdpMessage{}}
	go b.read(replyR)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.call(ctx, "", "Browser.close", nil, nil)
		cmdW.Close()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		replyR.Close()
		if t.Failed() {
			t.Logf("chromium's output:\n%s", out.String())
		}
	})
	return b
}

// read delivers chromium's replies to their callers; events are dropped.
func (b *browser) read(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		msg, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			b.closed = fmt.Errorf("chromium closed its DevTools pipe: %w", err)
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

// call sends one command, in session ("" for the browser), and decodes
// its result into result unless that is nil.
func (b *browser) call(ctx context.Context, session, method string, params, result any) error {
	b.mu.Lock()
	if b.closed != nil {
		b.mu.Unlock()
		return b.closed
	}
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg, err := json.Marshal(cdpMessage{ID: id, Method: method, SessionID: session, Params: params})
	if err != nil {
		return err
	}
	if _, err := b.toChrome.Write(append(msg, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	case reply, ok := <-ch:
		switch {
		case !ok:
			return fmt.Errorf("%s: %w", method, b.closed)
		case reply.Error != nil:
			return fmt.Errorf("%s: %s (%d)", method, reply.Error.Message, reply.Error.Code)
		case result != nil:
			return json.Unmarshal(reply.Result, result)
		}
		return nil
	}
}

// tab is one page in the browser.
type tab struct {
	b       *browser
	session string
}

func (b *browser) newTab(t *testing.T) *tab {
	t.Helper()
	var target struct{ TargetID string }
	b.must(t, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct{ SessionID string }
	b.must(t, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	tb := &tab{b: b, session: attached.SessionID}
	tb.must(t, "Emulation.setDeviceMetricsOverride", phone, nil)
	return tb
}

func (b *browser) must(t *testing.T, session, method string, params, result any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), browserWait)
	defer cancel()
	if err := b.call(ctx, session, method, params, result); err != nil {
		t.Fatal(err)
	}
}

func (tb *tab) must(t *testing.T, method string, params, result any) {
	t.Helper()
	tb.b.must(t, tb.session, method, params, result)
}

// navigate loads target and waits until the page with title has loaded.
func (tb *tab) navigate(t *testing.T, target, title string) {
	t.Helper()
	var nav struct{ ErrorText string }
	tb.must(t, "Page.navigate", map[string]any{"url": target}, &nav)
	if nav.ErrorText != "" {
		t.Fatalf("navigating: %s", nav.ErrorText)
	}
	tb.awaitTitle(t, title)
}

// awaitTitle waits until a loaded page has title.
func (tb *tab) awaitTitle(t *testing.T, title string) {
	t.Helper()
	testenv.Eventually(t, browserWait, func() error {
		got, err := tb.tryEval(`document.readyState + " " + document.title`)
		if err != nil {
			return err
		}
		if want := "complete " + title; got != want {
			return fmt.Errorf("page is %q, want %q", got, want)
		}
		return nil
	})
}

// tryEval evaluates a JavaScript expression in the page through DevTools
// (the page itself runs no scripts) and returns its value as a string.
func (tb *tab) tryEval(expr string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), browserWait)
	defer cancel()
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	err := tb.b.call(ctx, tb.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res)
	switch {
	case err != nil:
		return "", err
	case res.ExceptionDetails != nil:
		return "", fmt.Errorf("evaluating %s: %s", expr, res.ExceptionDetails.Text)
	}
	s, ok := res.Result.Value.(string)
	if !ok {
		return "", fmt.Errorf("evaluating %s: got %v, not a string", expr, res.Result.Value)
	}
	return s, nil
}

func (tb *tab) eval(t *testing.T, expr string) string {
	t.Helper()
	s, err := tb.tryEval(expr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// node finds the element matching selector.
func (tb *tab) node(t *testing.T, selector string) int {
	t.Helper()
	var doc struct {
		Root struct{ NodeID int }
	}
	tb.must(t, "DOM.getDocument", map[string]any{}, &doc)
	var found struct{ NodeID int }
	tb.must(t, "DOM.querySelector", map[string]any{"nodeId": doc.Root.NodeID, "selector": selector}, &found)
	if found.NodeID == 0 {
		t.Fatalf("no element matches %s", selector)
	}
	return found.NodeID
}

// typeInto focuses the element and types text as a keyboard would.
func (tb *tab) typeInto(t *testing.T, selector, text string) {
	t.Helper()
	tb.must(t, "DOM.focus", map[string]any{"nodeId": tb.node(t, selector)}, nil)
	tb.must(t, "Input.insertText", map[string]any{"text": text}, nil)
}

// click presses and releases the mouse's left button in the middle of the
// element, as a person would.
func (tb *tab) click(t *testing.T, selector string) {
	t.Helper()
	id := tb.node(t, selector)
	tb.must(t, "DOM.scrollIntoViewIfNeeded", map[string]any{"nodeId": id}, nil)
	var quads struct{ Quads [][]float64 }
	tb.must(t, "DOM.getContentQuads", map[string]any{"nodeId": id}, &quads)
	if len(quads.Quads) == 0 || len(quads.Quads[0]) != 8 {
		t.Fatalf("%s is not visible: quads %v", selector, quads.Quads)
	}
	q := quads.Quads[0]
	x, y := (q[0]+q[2]+q[4]+q[6])/4, (q[1]+q[3]+q[5]+q[7])/4
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		tb.must(t, "Input.dispatchMouseEvent", map[string]any{
			"type": typ, "x": x, "y": y, "button": "left", "clickCount": 1,
		}, nil)
	}
}

// screenshot saves the whole page as a PNG artefact.
func (tb *tab) screenshot(t *testing.T, name string) {
	t.Helper()
	var metrics struct {
		CSSContentSize struct{ Width, Height float64 } `json:"cssContentSize"`
	}
	tb.must(t, "Page.getLayoutMetrics", map[string]any{}, &metrics)
	size := metrics.CSSContentSize
	var shot struct{ Data string }
	tb.must(t, "Page.captureScreenshot", map[string]any{
		"format":                "png",
		"captureBeyondViewport": true,
		"clip":                  map[string]any{"x": 0, "y": 0, "width": size.Width, "height": size.Height, "scale": 1},
	}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("the screenshot is not a PNG")
	}
	path := artefact(t, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot (%sx%s CSS px): %s", strconv.Itoa(int(size.Width)), strconv.Itoa(int(size.Height)), path)
}
