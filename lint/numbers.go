package lint

import "strconv"

// cnDigit maps Chinese numeral digits (plain and financial forms) to values.
func cnDigit(r rune) (int64, bool) {
	switch r {
	case '零', '〇':
		return 0, true
	case '一', '壹':
		return 1, true
	case '二', '贰', '两':
		return 2, true
	case '三', '叁':
		return 3, true
	case '四', '肆':
		return 4, true
	case '五', '伍':
		return 5, true
	case '六', '陆':
		return 6, true
	case '七', '柒':
		return 7, true
	case '八', '捌':
		return 8, true
	case '九', '玖':
		return 9, true
	}
	return 0, false
}

func cnUnit(r rune) (int64, bool) {
	switch r {
	case '十', '拾':
		return 10, true
	case '百', '佰':
		return 100, true
	case '千', '仟':
		return 1000, true
	case '万':
		return 10000, true
	case '亿':
		return 100000000, true
	}
	return 0, false
}

// isCNNumeral reports whether cnDigit or cnUnit knows r. It lists their
// runes again so it is cheap enough to be inlined: it is asked of every
// rune (TestIsCNNumeralIsDigitOrUnit keeps the lists together).
func isCNNumeral(r rune) bool {
	switch r {
	case '零', '〇', '一', '壹', '二', '贰', '两', '三', '叁', '四', '肆', '五', '伍', '六', '陆', '七', '柒', '八', '捌', '九', '玖',
		'十', '拾', '百', '佰', '千', '仟', '万', '亿':
		return true
	}
	return false
}

// measureWords follow a number in a number context (三斤, 一号链接, 十万人).
// Deliberately absent: 下 起 定 直 点 样 分, which make 一下 一起 一定 一直 一点
// 一样 十分 ordinary words rather than numbers.
func isMeasureWord(r rune) bool {
	switch r {
	case '块', '元', '毛', '角', '斤', '克', '两', '个', '件', '号', '瓶', '罐', '盒', '包', '袋',
		'人', '年', '天', '岁', '次', '份', '成', '倍', '折', '单', '位', '种', '款', '批', '步',
		'轮', '名', '家', '条', '只', '箱', '桶', '斗', '米', '厘', '寸', '尺', '杯', '碗', '根',
		'颗', '粒', '串', '对', '副', '套', '张', '片', '层', '代', '届', '期', '秒', '万', '千', '百':
		return true
	}
	return false
}

// parseCN reads a Chinese numeral: 三十九=39, 八百八=880 (the trailing unit
// is implied), 一万二=12000, 一百零八=108, 二零二六=2026.
func parseCN(rs []rune) (int64, bool) {
	hasUnit := false
	for _, r := range rs {
		if _, ok := cnUnit(r); ok {
			hasUnit = true
		} else if _, ok := cnDigit(r); !ok {
			return 0, false
		}
	}
	if !hasUnit {
		var v int64
		for _, r := range rs {
			d, _ := cnDigit(r)
			v = v*10 + d
			if v > 1e15 {
				return 0, false
			}
		}
		return v, true
	}
	var total, section, num, lastUnit int64
	digitPending, zero := false, false
	for _, r := range rs {
		if d, ok := cnDigit(r); ok {
			if digitPending && d != 0 && !zero {
				return 0, false // 三四十 and the like: a range, not a number
			}
			if d == 0 {
				zero = true
				continue
			}
			num, digitPending = d, true
			continue
		}
		u, _ := cnUnit(r)
		switch {
		case u >= 10000:
			section += num
			if section == 0 && total == 0 {
				section = 1
			}
			total = (total + section) * u
			section, num, digitPending, zero = 0, 0, false, false
		default:
			if !digitPending {
				if u == 10 {
					num = 1 // 十五 = 15
				} else {
					return 0, false
				}
			}
			section += num * u
			num, digitPending, zero = 0, false, false
		}
		lastUnit = u
		if total > 1e15 {
			return 0, false
		}
	}
	if digitPending {
		if !zero && lastUnit >= 10 {
			num *= lastUnit / 10
		}
		section += num
	}
	return total + section, true
}

// normalizeNumbers rewrites numbers in number contexts to ASCII digits:
// 百分之百/百分百 → 100%, 第一/第壹 → 第1, 三十九块九 → 39.9块, 一号 → 1号.
// A lone 一 outside such a context stays (一下, 统一, 一起).
func normalizeNumbers(in, out *normText) {
	rs := in.runes
	bi := 0
	var digits [24]byte
	emit := func(v string, s span) {
		for i := 0; i < len(v); i++ {
			out.push(rune(v[i]), s)
		}
	}
	for i := 0; i < len(rs); {
		for bi < len(in.breaks) && in.breaks[bi] <= i {
			out.addBreak(len(out.runes))
			bi++
		}
		// 百分之N / 百分百
		if i+2 < len(rs) && rs[i] == '百' && rs[i+1] == '分' {
			if rs[i+2] == '百' {
				emit("100%", in.spanOf(i, i+3))
				i += 3
				continue
			}
			if rs[i+2] == '之' && i+3 < len(rs) {
				j := i + 3
				for j < len(rs) && (isCNNumeral(rs[j]) || isDigit(rs[j])) {
					j++
				}
				if j > i+3 {
					if v, ok := parseMixed(rs[i+3 : j]); ok {
						emit(string(strconv.AppendInt(digits[:0], v, 10))+"%", in.spanOf(i, j))
						i = j
						continue
					}
				}
			}
		}
		if !isCNNumeral(rs[i]) {
			// the run up to the next numeral or clause break is copied
			// as it is, in one piece
			j, stop := i+1, len(rs)
			if bi < len(in.breaks) {
				stop = min(stop, in.breaks[bi])
			}
			for j < stop && !isCNNumeral(rs[j]) {
				j++
			}
			out.runes, out.spans = append(out.runes, rs[i:j]...), append(out.spans, in.spans[i:j]...)
			i = j
			continue
		}
		j := i
		for j < len(rs) && isCNNumeral(rs[j]) {
			j++
		}
		run := rs[i:j]
		// a run may not start with a bare unit other than 十 (万一, 千万 are words)
		if u, ok := cnUnit(run[0]); ok && u != 10 {
			out.push(rs[i], in.spans[i])
			i++
			continue
		}
		if !numberContext(out, rs, i, j) {
			for k := i; k < j; k++ {
				out.push(rs[k], in.spans[k])
			}
			i = j
			continue
		}
		v, ok := parseCN(run)
		if !ok {
			for k := i; k < j; k++ {
				out.push(rs[k], in.spans[k])
			}
			i = j
			continue
		}
		start := len(out.runes)
		emit(string(strconv.AppendInt(digits[:0], v, 10)), in.spanOf(i, j))
		_ = start
		i = j
		i = emitDecimalTail(in, out, i)
	}
	for ; bi < len(in.breaks); bi++ {
		out.addBreak(len(out.runes))
	}
}

// emitDecimalTail handles the part after a number: 三点五 → 3.5 and
// 三十九块九 → 39.9块 (a single digit after 块/元 is the tenths).
func emitDecimalTail(in, out *normText, i int) int {
	rs := in.runes
	if i+1 < len(rs) && rs[i] == '点' {
		if d, ok := cnDigit(rs[i+1]); ok {
			out.push('.', in.spans[i])
			j := i + 1
			for j < len(rs) {
				d2, ok := cnDigit(rs[j])
				if !ok {
					break
				}
				out.push(rune('0'+d2), in.spans[j])
				j++
			}
			_ = d
			return j
		}
	}
	if i+1 < len(rs) && (rs[i] == '块' || rs[i] == '元') {
		if d, ok := cnDigit(rs[i+1]); ok && (i+2 >= len(rs) || !isCNNumeral(rs[i+2])) {
			out.push('.', in.spans[i+1])
			out.push(rune('0'+d), in.spans[i+1])
			out.push(rs[i], in.spans[i])
			return i + 2
		}
	}
	return i
}

// numberContext decides whether the numeral run rs[i:j] is a number: after
// 第 or a counting verb, before a measure word, or a compound like 三十九.
func numberContext(out *normText, rs []rune, i, j int) bool {
	if n := len(out.runes); n > 0 {
		switch out.runes[n-1] {
		case '第', '扣', '到', '过', '满', '刷', '打':
			return true
		case '个':
			if n > 1 && (out.runes[n-2] == '扣' || out.runes[n-2] == '打' || out.runes[n-2] == '刷') {
				return true
			}
		}
	}
	if j < len(rs) && isMeasureWord(rs[j]) {
		return true
	}
	if j < len(rs) && rs[j] == '点' && j+1 < len(rs) {
		if _, ok := cnDigit(rs[j+1]); ok {
			return true
		}
	}
	if j-i >= 2 {
		for _, r := range rs[i:j] {
			if _, ok := cnUnit(r); ok {
				return true
			}
		}
	}
	return false
}

// parseMixed parses either ASCII digits or a Chinese numeral.
func parseMixed(rs []rune) (int64, bool) {
	allASCII := true
	for _, r := range rs {
		if !isDigit(r) {
			allASCII = false
		}
	}
	if allASCII {
		var v int64
		for _, r := range rs {
			v = v*10 + int64(r-'0')
			if v > 1e15 {
				return 0, false
			}
		}
		return v, true
	}
	if len(rs) == 1 && (rs[0] == '百' || rs[0] == '佰') {
		return 100, true // 百分之百
	}
	return parseCN(rs)
}
