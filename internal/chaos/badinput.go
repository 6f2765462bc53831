package chaos

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Entry is one request of the bad-input corpus.
type Entry struct {
	Name   string
	Body   []byte
	Header http.Header
}

// headersExt names the file that gives an entry's headers.
const headersExt = ".headers"

// ReadCorpus reads the corpus in dir: every file is a request body, sent
// as application/json unless a file of the same name plus ".headers"
// gives the headers, one "Name: value" a line.
func ReadCorpus(dir string) ([]Entry, error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, f := range files {
		if f.IsDir() || strings.HasSuffix(f.Name(), headersExt) {
			continue
		}
		body, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			return nil, err
		}
		h, err := readHeaders(filepath.Join(dir, f.Name()+headersExt))
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Name: f.Name(), Body: body, Header: h})
	}
	return out, nil
}

func readHeaders(path string) (http.Header, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return http.Header{}, nil
	}
	if err != nil {
		return nil, err
	}
	// A blank line ends the header block, which the file may lack.
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(b, "\r\n\r\n"...)))).ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return http.Header(h), nil
}

// GeneratedCorpus are the entries too large to keep as files: deep
// nesting, a huge string, 100,000 alerts and a gzip bomb.
func GeneratedCorpus() []Entry {
	const depth = 100000
	deep := `{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"Deep"},"fingerprint":"f","annotations":{"summary":` +
		strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}]}`
	huge := `{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"Huge"},"fingerprint":"f","annotations":{"summary":"` +
		strings.Repeat("A", 9<<20) + `"}}]}`
	return []Entry{
		{Name: "generated: 100000 levels of nesting", Body: []byte(deep)},
		{Name: "generated: a 9 MiB annotation", Body: []byte(huge)},
		{Name: "generated: 100000 alerts", Body: manyAlerts(100000)},
		{Name: "generated: gzip bomb, 256 MiB of JSON in 256 KiB", Body: gzipBomb(256 << 20),
			Header: http.Header{"Content-Encoding": {"gzip"}}},
	}
}

// manyAlerts is a notification of n alerts as Alertmanager would send
// them, instance by instance.
func manyAlerts(n int) []byte {
	m := GroupMessage("ChaosMany", "job-00", 0, false)
	for i := range n {
		m.Alerts = append(m.Alerts, GroupMessage("ChaosMany", "job-00", 1, false).Alerts[0])
		a := &m.Alerts[i]
		a.Labels["instance"] = fmt.Sprintf("host-%06d:9100", i)
		a.Fingerprint = fmt.Sprintf("%016x", i)
	}
	b, err := m.Encode()
	if err != nil {
		panic("chaos: encoding a generated notification: " + err.Error())
	}
	return b
}

// gzipBomb compresses an array of size bytes that only ever opens.
func gzipBomb(size int) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	chunk := bytes.Repeat([]byte("["), 1<<20)
	for range size / len(chunk) {
		_, _ = zw.Write(chunk)
	}
	_ = zw.Close()
	return buf.Bytes()
}

// Answer is the receiver's answer to one entry.
type Answer struct {
	Name   string
	Status int
	// JSON says whether the answer was JSON, as the Content-Type said;
	// Error is its error field.
	JSON  bool
	Error string
	Took  time.Duration
	// Err is a failure to get an answer at all: a hang past the client's
	// timeout, or a dropped connection.
	Err error
}

// PostCorpus posts every entry to url, one after the other.
func PostCorpus(ctx context.Context, client *http.Client, url string, entries []Entry) []Answer {
	out := make([]Answer, 0, len(entries))
	for _, e := range entries {
		start := time.Now()
		a := Answer{Name: e.Name}
		code, body, ct, err := post(ctx, client, url, e)
		a.Took, a.Status, a.Err = time.Since(start), code, err
		if mt, _, _ := mime.ParseMediaType(ct); mt == "application/json" {
			var v struct {
				Error string `json:"error"`
			}
			a.JSON = json.Unmarshal(body, &v) == nil
			a.Error = v.Error
		}
		out = append(out, a)
	}
	return out
}

func post(ctx context.Context, client *http.Client, url string, e Entry) (int, []byte, string, error) {
	h := e.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(e.Body))
	if err != nil {
		return 0, nil, "", err
	}
	req.Header = h
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes(), resp.Header.Get("Content-Type"), err
}

// Golden renders answers one a line: the entry, the status and the
// error, sorted by entry.
func Golden(answers []Answer) string {
	answers = slices.Clone(answers)
	slices.SortFunc(answers, func(a, b Answer) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	for _, a := range answers {
		fmt.Fprintf(&b, "%s\n\t%s\n", a.Name, strings.TrimSpace(fmt.Sprintf("%d %s", a.Status, a.Error)))
	}
	return b.String()
}
