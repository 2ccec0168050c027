package wifi

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/cunbo/cunbo/bundle"
)

// Label is the setup hotspot's name and password, printed on the box.
type Label struct {
	SSID     string
	Password string
}

// LabelFor derives the box's hotspot label from its key (see the package
// doc): the same key always gives the same label.
func LabelFor(key ed25519.PrivateKey) Label {
	pub := key.Public().(ed25519.PublicKey)
	fp := bundle.Fingerprint(pub)
	mac := hmac.New(sha256.New, key.Seed())
	mac.Write([]byte("cunbo setup hotspot password v1"))
	sum := mac.Sum(nil)
	// 64 bits mod 10^8: the bias is far below anything guessable.
	return Label{
		SSID:     "村播-" + fp[:4],
		Password: fmt.Sprintf("%08d", binary.BigEndian.Uint64(sum[:8])%100_000_000),
	}
}
