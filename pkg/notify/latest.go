package notify

// LatestOnly is a Notifier for an upstream that keeps one state per
// incident, which each message sets, keyed by the incident key:
// PagerDuty's dedup_key, Opsgenie's alias. Of an incident's notifications
// waiting for such a channel, only those Latest picks are sent; the
// others are superseded. Chat channels are not LatestOnly: each of their
// messages is read, so each state is shown (in a digest, when they fall
// behind).
type LatestOnly interface {
	Notifier
	// LatestOnly marks the notifier; it does nothing.
	LatestOnly()
}

// Latest picks, of one incident's notifications waiting for a LatestOnly
// channel (ns, oldest first), those to send, in order, for the upstream
// to end in the incident's latest state without ever being told of a
// resolve before the trigger it closes. It returns their indexes in ns,
// at least one.
//
// The rule: ns is cut after each resolve. Of each piece, the latest
// trigger is sent, then the resolve that ends it, if any. So a storm of
// triggers goes out as its latest one; a trigger goes before a resolve
// even when the upstream may already have an earlier one, as it may
// never have been told the incident fired (a lone resolve of an alert it
// does not know is dropped, and the page with it); and a resolve followed
// by a new trigger is sent, then the trigger: PagerDuty and Opsgenie add
// a trigger on an open key to the alert they have, without paging, but
// open a new alert, and page, after a resolve. Notifications that set no
// state there (escalate, acknowledged) are superseded by the triggers
// around them; when nothing waiting is a trigger or a resolve, the latest
// notification is sent.
func Latest(ns []*Notification) []int {
	var picks []int
	trigger := -1 // the piece's latest trigger
	for i, n := range ns {
		switch n.Kind {
		case KindTrigger:
			trigger = i
		case KindResolve:
			if trigger >= 0 {
				picks = append(picks, trigger)
			}
			picks = append(picks, i)
			trigger = -1
		}
	}
	if trigger >= 0 {
		picks = append(picks, trigger)
	}
	if len(picks) == 0 && len(ns) > 0 {
		picks = append(picks, len(ns)-1)
	}
	return picks
}
