package linkwatch

import "encoding/binary"

// nativeUint32 reads a host-order field of a netlink header (netlink uses
// the machine's byte order).
func nativeUint32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }
