// Package provision applies verified setup bundles (package bundle) on the
// box so that applying one never bricks it.
//
// # On disk
//
// Everything lives in one folder on the data partition (state_dir/provision):
//
//	trust.json          the root public key the box trusts and the newest revocation list
//	state.json          the highest version tried, a trial in progress, the last outcome
//	versions/<N>/       one whole configuration: config.toml, catalogue/, rules/,
//	                    scenarios/ (practice, if the bundle had any),
//	                    secrets.json (0600), manifest.json, READY once it came up
//	current -> versions/N
//	previous -> versions/M
//
// A bundle is staged into a hidden temp folder beside versions/<N> (each
// file written and fsynced, then the folders), renamed to versions/<N>, and
// switched in by renaming a new symlink over current: one rename, so a
// power cut leaves current naming the whole old folder or the whole new one.
// Leftover temp folders and links are removed when the store is opened.
//
// # Trial and rollback
//
// A version without READY is on trial. Boot, at every start, notes the
// trial; a start that finds the trial already noted (the box restarted
// before the new configuration came up) rolls back to previous. Guard
// rolls back within a set time when the box does not come up ready. Either
// way the reason is kept as the last outcome for the phone page.
//
// # Trust
//
// A box that trusts no root yet takes the root public key from root.pub on
// the USB stick with its first bundle (trust on first use), never from the
// network; from then on it takes bundles of that root only.
package provision
