package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/cunbo/cunbo/firmware/upload"
	"github.com/cunbo/cunbo/firmware/wifi"
)

// printBoxKey prints the box's public key and id (the key is made in dir on
// first use) for a trainer to enrol with `cunbo-review box add --key-hex`.
// The second line is the one scripts read.
func printBoxKey(dir string, stdout io.Writer) error {
	key, err := upload.LoadOrCreateKey(dir)
	if err != nil {
		return err
	}
	pub := key.Public().(ed25519.PublicKey)
	// The setup hotspot's name and password go on the label beside the PIN.
	l := wifi.LabelFor(key)
	_, err = fmt.Fprintf(stdout, "公钥 (public key): %s\n盒子编号 (box id): %s\n设置热点 (setup hotspot): %s  密码 (password): %s\n",
		hex.EncodeToString(pub), upload.BoxID(pub), l.SSID, l.Password)
	return err
}
