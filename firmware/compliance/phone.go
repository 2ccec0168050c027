package compliance

import "github.com/cunbo/cunbo/firmware/web"

// PhonePage sends warnings to the phone page's event stream
// (*web.Server.PublishWarning), which never blocks. The card leads with
// the advice and says why in everyday words; the category's legal name,
// the rule's explanation and the law stay one tap away.
func PhonePage(s web.WarningSink) WarningSink {
	return SinkFunc(func(w Warning) {
		s.PublishWarning(web.Warning{
			ID:           w.ID,
			Said:         w.Said,
			Match:        w.Match,
			Category:     w.Category,
			Rule:         w.Rule,
			CategoryName: w.CategoryName,
			Explain:      w.Explain,
			Why:          PlainWhy(w.Category),
			Suggest:      w.Suggest,
			Law:          w.Law,
			At:           w.At,
		})
	})
}

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

// WebCaptions is the captions' status as the phone page shows it.
func (c *Captions) WebCaptions() web.Captions {
	st := c.Status()
	return web.Captions{On: st.On, Reason: st.Reason}
}
