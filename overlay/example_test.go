package overlay_test

import (
	"fmt"
	"strings"

	"github.com/cunbo/cunbo/overlay"
)

// A trainer's spreadsheet with two mistakes: the good rows load, and each
// problem names its row so she can fix it.
func ExampleParseCatalog() {
	csv := "\ufeff名称,价格,规格,链接号\r\n" +
		"榕江辣椒酱,39.9,280克/瓶,1\r\n" +
		"柴火腊肉,八十八,500克,2\r\n" +
		",128,500克/瓶,3\r\n" +
		"苗绣零钱包,￥59,一个,4号链接\r\n"
	cat, problems, err := overlay.ParseCatalog(strings.NewReader(csv), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range cat.Products {
		fmt.Println(p.Name, p.PriceText(), p.LinkText())
	}
	for _, pr := range problems {
		fmt.Println(pr)
	}
	// Output:
	// 榕江辣椒酱 ¥39.9 1号链接
	// 苗绣零钱包 ¥59 4号链接
	// 第3行 价格：无法识别“八十八”（不是数字），这一行没有加载
	// 第4行 名称：没有填商品名称，这一行没有加载
}
