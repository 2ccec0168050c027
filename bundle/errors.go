package bundle

import "fmt"

// Kind is one reason a box refuses a bundle. It is an error so callers can
// write errors.Is(err, bundle.Replay).
type Kind string

// The refusals.
const (
	Oversize      Kind = "oversize"       // the bundle, a file or the number of files is over a limit
	Malformed     Kind = "malformed"      // not a bundle, or its manifest breaks the format
	Unsigned      Kind = "unsigned"       // no signature at all
	BadSignature  Kind = "bad_signature"  // the signature does not match the manifest
	UnknownSigner Kind = "unknown_signer" // the trainer's certificate is not from this box's root
	Revoked       Kind = "revoked"        // the trainer's certificate is revoked
	CertExpired   Kind = "cert_expired"   // the trainer's certificate is not valid now
	NotForBox     Kind = "not_for_box"    // this box is not among the targets
	Replay        Kind = "replay"         // the version is not newer than the one the box has
	Expired       Kind = "expired"        // the bundle itself has expired
	FileMismatch  Kind = "file_mismatch"  // a file's size or SHA-256 differs from the manifest
	MissingFile   Kind = "missing_file"   // the manifest names a file the archive lacks
	ExtraFile     Kind = "extra_file"     // the archive holds a file the manifest does not name
	BadPath       Kind = "bad_path"       // a file name could escape its folder or is not allowed
	NoSecrets     Kind = "no_secrets"     // the secrets cannot be opened with this box's key
)

func (k Kind) Error() string { return "bundle: " + string(k) }

// Message is what the phone page shows: short, plain, for a seller or a
// trainer on the spot.
func (k Kind) Message() string {
	switch k {
	case Oversize:
		return "这个设置包太大了，盒子不能用"
	case Unsigned:
		return "这个设置包没有培训老师的签名，盒子不能用"
	case BadSignature:
		return "这个设置包被人改过，盒子不能用"
	case UnknownSigner:
		return "这个设置包不是我们的培训老师做的"
	case Revoked:
		return "做这个设置包的培训老师已经停用了"
	case CertExpired:
		return "培训老师的证书过期了，请她更新后再做一个"
	case NotForBox:
		return "这个设置包不是给这台盒子的"
	case Replay:
		return "这个设置包不比盒子现在用的新，不用换"
	case Expired:
		return "这个设置包过期了，请培训老师再做一个"
	case FileMismatch:
		return "设置包里的文件坏了或被人改过"
	case MissingFile:
		return "设置包里少了文件"
	case ExtraFile:
		return "设置包里多了不认识的文件"
	case BadPath:
		return "设置包里有不安全的文件名"
	case NoSecrets:
		return "这台盒子打不开设置包里的密码"
	default:
		return "这个设置包坏了，请培训老师再做一个"
	}
}

// Error is a refusal: its Kind, and the details for the journal.
type Error struct {
	Kind   Kind
	Reason string // English, for the journal
	Err    error  // the underlying error, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("bundle refused (%s): %s: %v", e.Kind, e.Reason, e.Err)
	}
	return fmt.Sprintf("bundle refused (%s): %s", e.Kind, e.Reason)
}

// Message is the Chinese message for the phone page.
func (e *Error) Message() string { return e.Kind.Message() }

func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

func refuse(k Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: k, Reason: fmt.Sprintf(format, args...), Err: err}
}
