package overlay

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
)

// The demo catalogue ships inside the binary so the simulator can show
// cards with no files on disk. Its photos are painted by
// testdata/demogen (no third-party images).
//
//go:embed testdata/demo/catalog.csv testdata/demo/photos/*.jpg
var demoFiles embed.FS

// DemoCatalog returns the embedded demo catalogue of Rongjiang products
// (辣椒酱, 腊肉, 野生蜂蜜, 苗绣, 侗族银饰). It is checked by tests, so an
// error means a broken build.
func DemoCatalog() (*Catalog, error) {
	data, err := demoFiles.ReadFile("testdata/demo/catalog.csv")
	if err != nil {
		return nil, fmt.Errorf("overlay: demo catalogue: %w", err)
	}
	photos, err := fs.Sub(demoFiles, "testdata/demo/photos")
	if err != nil {
		return nil, fmt.Errorf("overlay: demo photos: %w", err)
	}
	cat, problems, err := ParseCatalog(bytes.NewReader(data), photos)
	if err != nil {
		return nil, fmt.Errorf("overlay: demo catalogue: %w", err)
	}
	if len(problems) > 0 {
		return cat, fmt.Errorf("overlay: demo catalogue has problems: %v", problems)
	}
	return cat, nil
}
