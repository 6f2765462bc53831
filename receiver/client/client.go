// Package client calls the API of a running klaxon-receiver, for the
// incidents, ack and resolve commands: it is to the receiver what amtool's
// client is to Alertmanager.
package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/klaxonhq/klaxon/pkg/alert"
	"github.com/klaxonhq/klaxon/pkg/api"
)

// DefaultURL is where the incident commands find a running
// receiver.
const DefaultURL = "http://localhost:9848"

// Client calls the incidents API of a running receiver.
type Client struct {
	// URL is the receiver's base URL (DefaultURL when empty).
	URL string
	// BearerTokenFile, if set, holds the webhook's bearer token.
	BearerTokenFile string
	HTTP            *http.Client
}

// ShowIncidents prints the open incidents as a table, each by its short
// ID (alert.ShortID), which ack and resolve take.
func (c *Client) ShowIncidents(ctx context.Context, w io.Writer) error {
	var resp api.IncidentsResponse
	if err := c.call(ctx, http.MethodGet, "/api/v1/incidents", nil, &resp); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROUTE\tPOLICY\tLEVEL\tSTARTED\tACKED BY\tNEXT ESCALATION")
	for _, in := range resp.Incidents {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", alert.ShortID(in.ID), in.Route, in.Policy, in.Level,
			formatTime(in.Started), orDash(in.AckedBy), formatTime(in.NextEscalation))
	}
	return tw.Flush()
}

// Acknowledge acknowledges an incident, by its ID or a prefix of at
// least alert.ShortIDLength characters, on behalf of by. Acknowledging
// again as the same person says so and succeeds; as anyone else it
// fails, naming who acknowledged and when.
func (c *Client) Acknowledge(ctx context.Context, id, by string, w io.Writer) error {
	body, err := json.Marshal(api.AckRequest{By: by})
	if err != nil {
		return err
	}
	var resp api.ChangeResponse
	if err := c.call(ctx, http.MethodPost, "/api/v1/incidents/"+url.PathEscape(id)+"/ack", body, &resp); err != nil {
		return err
	}
	// A receiver from before the answer named the incident says less.
	short := alert.ShortID(cmp.Or(resp.ID, id))
	resp.AckedBy = cmp.Or(resp.AckedBy, by)
	if resp.Status == api.StatusAlreadyAcknowledged {
		_, err = fmt.Fprintf(w, "incident %s was already acknowledged by %s at %s: nothing changed\n", short, resp.AckedBy, formatTime(resp.AckedAt))
		return err
	}
	_, err = fmt.Fprintf(w, "incident %s acknowledged by %s\n", short, resp.AckedBy)
	return err
}

// Resolve ends an incident's escalation.
func (c *Client) Resolve(ctx context.Context, id string, w io.Writer) error {
	var resp api.ChangeResponse
	if err := c.call(ctx, http.MethodPost, "/api/v1/incidents/"+url.PathEscape(id)+"/resolve", nil, &resp); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "incident %s resolved: nobody is paged for it any more; Alertmanager's alerts are unchanged\n", alert.ShortID(cmp.Or(resp.ID, id)))
	return err
}

// call sends a request to the API and decodes the answer into out.
func (c *Client) call(ctx context.Context, method, path string, body []byte, out any) error {
	base := c.URL
	if base == "" {
		base = DefaultURL
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := c.authorize(req); err != nil {
		return err
	}
	client := c.HTTP
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("calling the receiver: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the receiver's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var r api.Response
		if json.Unmarshal(data, &r) == nil && r.Error != "" {
			return fmt.Errorf("receiver answered %d: %s", resp.StatusCode, r.Error)
		}
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding the receiver's answer: %w", err)
	}
	return nil
}

func (c *Client) authorize(req *http.Request) error {
	if c.BearerTokenFile == "" {
		return nil
	}
	data, err := os.ReadFile(c.BearerTokenFile)
	if err != nil {
		return fmt.Errorf("reading the bearer token file: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(data)))
	return nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
