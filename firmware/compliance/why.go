package compliance

// PlainWhy says why a category may not be said, the way a neighbour
// would: no legal terms, no article numbers, short enough to read at a
// glance while talking (many sellers read at primary-school level and
// speak Mandarin as a second language). "" for a category it does not
// know: the page then shows the rule's own explanation.
func PlainWhy(category string) string {
	switch category {
	case "ABS":
		return "说“最”“第一”没法证明，平台不让说"
	case "STATE":
		return "不能拿国家、政府的名头卖东西"
	case "MED":
		return "吃的东西不能说能治病"
	case "HEALTH":
		return "吃的东西不能说能补身体、防病"
	case "UNVERIF":
		return "打包票的话没法证明，不能说"
	case "DATA":
		return "说不出数字从哪里来，就不能说"
	case "PRICE":
		return "没卖过的“原价”、假的清仓，都算骗买家"
	case "OFFPLAT":
		return "叫买家私下加微信、转账，平台会处罚"
	case "INDUCE":
		return "拿送东西换点赞、关注，平台不允许"
	case "SUPERST":
		return "“开光”“转运”这类话，平台不让说"
	case "DISPARAGE":
		return "不能说别人家的东西不好"
	}
	return ""
}
