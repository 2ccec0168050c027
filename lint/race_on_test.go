//go:build race

package lint

// raceDetector reports a -race build: there the model's trainings run
// eight to ten times slower and find nothing, being one goroutine's
// arithmetic.
const raceDetector = true
