// Package bundle is the contract between the review service, which makes
// provisioning bundles, and the box, which checks them: the bundle format,
// the organisation's trust chain (root key → trainer certificates →
// revocation list) and the secrets sealed to each box's own key. Like
// segment, both sides import it and nothing of each other; it imports
// neither review nor firmware.
//
// # Trust
//
// An organisation root key (ed25519, kept offline, encrypted with a
// passphrase by `cunbo-review provision init`) signs trainer certificates
// (name, public key, validity, serial) and a revocation list (serials or
// keys). A box trusts the root public key it got when first provisioned and
// the newest revocation list it has seen; every bundle may carry a newer
// list, which the box keeps.
//
// # Format
//
// A bundle (x.cunbo) is a zip archive with every entry stored, not
// compressed:
//
//	manifest.json     the Manifest (JSON)
//	manifest.sig      the trainer's ed25519 signature of manifest.json
//	config.toml       the box configuration
//	catalogue/…       the product catalogue and its photos
//	rules/…           the rule pack
//	scenarios/<name>  practice scenarios (package practice's format), one
//	                  level only; optional: without them the box keeps its
//	                  built-in set
//	secrets/<id>.age  Wi-Fi password, stream keys, PIN: age-encrypted to one
//	                  target box's ed25519 key (agessh), one file per box
//
// Why zip and not tar: zip has a central directory, so Open reads the
// manifest and its signature first through an io.ReaderAt (a file on a USB
// stick or a download on disk) and then only the entries the manifest names,
// instead of streaming through everything before it knows whom to trust; a
// trainer can also open it on any laptop to see what is in it. Entries must
// be stored: photos are already compressed, and no decompression means no
// zip bomb and sizes known before reading. Zip's looseness (duplicate names,
// names the central directory and local headers disagree on, data before the
// archive) does not matter because nothing is trusted from the archive's
// structure: every file is named, sized and hashed in the signed manifest,
// and anything else is refused.
//
// # Verification
//
// Open checks, in this order, and refuses with an *Error whose Kind says
// which refusal (each with a short plain Chinese message for the phone page
// and an English reason for the journal): the size and shape of the
// archive and its names, the manifest's signature chain (unsigned, unknown
// signer, revoked trainer, certificate expired, bad signature), the
// manifest's own fields, that this box is a target, that the version is
// newer than the one the box has, that the bundle has not expired, and
// every file's size and SHA-256. It returns the files' bytes only after all
// of that has passed: nothing is extracted or written before.
package bundle
