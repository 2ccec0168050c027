package wifi

import (
	"fmt"
	"strings"
)

// ParseTerse splits one line of nmcli's terse output (-t) into its n
// fields. nmcli separates fields with ':' and escapes ':' and '\' inside a
// field with '\'; SSIDs may hold both.
func ParseTerse(line string, n int) ([]string, error) {
	fields := make([]string, 0, n)
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case '\\':
			if i+1 == len(line) {
				return nil, fmt.Errorf("wifi: nmcli line ends in a lone backslash: %q", line)
			}
			i++
			b.WriteByte(line[i])
		case ':':
			fields = append(fields, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	fields = append(fields, b.String())
	if len(fields) != n {
		return nil, fmt.Errorf("wifi: nmcli line has %d fields, want %d: %q", len(fields), n, line)
	}
	return fields, nil
}

// escapeTerse is the reverse of ParseTerse's unescaping for one field.
func escapeTerse(s string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(s)
}

// parseLines parses every non-empty line of out with n fields each.
func parseLines(out []byte, n int) ([][]string, error) {
	var rows [][]string
	for line := range strings.Lines(string(out)) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		f, err := ParseTerse(line, n)
		if err != nil {
			return nil, err
		}
		rows = append(rows, f)
	}
	return rows, nil
}
