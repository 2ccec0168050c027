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
//
// # Sample answers are linted
//
// A sample answer is what `cunbo sim --practice` says as her captions, so
// it must be an answer the box would not warn about: Validate (and
// CheckSamples) run every sample through the linter (the built-in rules,
// or the rule pack the scenarios are bundled with) and report a flagged
// one as a problem of its line: 第18行：示范回答里有「点关注送」，盒子会提醒，请换个说法.
// The simulator leaves such a sample unspoken and prints the problem when
// the practice starts.
//
// # Publishing scenarios to boxes
//
// Scenarios travel to boxes in the signed setup bundle, like the rule pack
// (package bundle, folder scenarios/, one level, .txt files):
//
//   - on the review service's trainer page (做设置包), choose the files under
//     🎓 练习题 beside the catalogue; the next page lists each scenario
//     (name, questions, products) or its problems by line, and warns about
//     products the catalogue lacks. No bundle is built while a file has a
//     problem.
//   - on the command line, `cunbo-review provision bundle … --scenarios DIR`
//     (a .txt file or a folder of them) does the same checks and writes no
//     bundle while any file has a problem.
//
// The box installs them with the rest of the bundle (atomically, rolled
// back with it) and practises with them in turn, one a practice, in file
// name order (name them 01-…, 02-…), unless she picks one on her phone
// (🎓 练习 lists them; an emoji at the start of the name, scenario 🍯
// 卖蜂蜜, is its button's icon); questions about products its catalogue
// lacks are left out. A bundle without scenarios leaves the box
// on the built-in set (scenarios/*.scn here), and so does a published file
// that does not parse: the box says so in its journal and never stops.
package practice
