// Package systemd holds no Go code: the box's unit, tmpfiles and sysusers
// files, and under deb/ the .deb packaging. Its tests check them with the
// real systemd and dpkg tools.
package systemd
