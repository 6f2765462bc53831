package alert

// ShortIDLength is how many characters of an incident key make its short
// form, and the fewest that name an incident.
const ShortIDLength = 8

// ShortID is the short form of an incident key, as the status page and
// the incidents command show it: its first ShortIDLength characters. The
// commands and the API take it, or any longer prefix, in place of the key
// as long as no other open incident's key starts with it.
func ShortID(key string) string {
	if len(key) <= ShortIDLength {
		return key
	}
	return key[:ShortIDLength]
}
