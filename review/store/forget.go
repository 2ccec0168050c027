package store

// Forgetting removes everything of one woman on her request.
type Forgetting interface{}
