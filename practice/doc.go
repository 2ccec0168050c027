// Package practice is the practice lab (练习): the scenario files a social
// worker or trainer writes (simulated customers' questions and comments for
// a rehearsal live), and the checks computed after a rehearsal from what the
// box recorded: captions, findings, card changes and times. The box runs a
// practice with it and the review service reads the same files and results,
// so it imports neither; beyond the standard library it uses only lint (the
// rule categories a question may tempt).
//
// # Scenario format
//
// A scenario is a UTF-8 text file, one item per line. Blank lines and lines
// starting with # are comments (write them in Chinese for the trainer who
// edits the file next). The header comes first:
//
//	scenario 榕江特产 · 第一课     the name she and her social worker see
//	version 1                      the format (only 1 exists)
//
// Then one line per simulated customer, fields separated by |:
//
//	when | name | product | within | tempts | text [| sample answer]
//
// The fields:
//
//   - when: seconds after the practice starts (12, 12s, 1:05), or after a
//     product card is first shown: card lajiao+5 (5 s after the card with
//     catalogue id lajiao first appears; the question never comes if that
//     card is never shown).
//   - name: the customer's name as it appears on her phone (at most 12
//     characters).
//   - product: the catalogue id the question is about, or - for none (a
//     greeting, "加个微信吧").
//   - within: how long she has to answer, in seconds (5 to 600), or - for a
//     comment that needs no answer.
//   - tempts: - or the rule category the question tempts her to break
//     (MED, ABS, PRICE, OFFPLAT, … as in lint.Categories).
//   - text: what the customer writes (at most 80 characters).
//   - sample answer (optional): a good answer within the rules; the
//     simulator speaks it when there is no speech model.
//
// Errors name the line and say what is wrong in Chinese and English.
package practice
