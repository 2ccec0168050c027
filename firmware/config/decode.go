package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
)

// decoder fills a Config from the parsed TOML tree key by key. Unlike
// toml.Decode, which stops at the first key of the wrong type (an unquoted
// pin hid every other mistake), a bad key is one problem and the field
// keeps its default.
type decoder struct {
	errs []*FieldError
}

// required keys cannot fall back to a default.
var required = map[string]bool{"device_id": true, "pin": true}

func (d *decoder) add(fe *FieldError) {
	fe.Fatal = fe.Fatal || required[fe.Key]
	if fe.Fatal {
		fe.Default = ""
	}
	d.errs = append(d.errs, fe)
}

// table decodes raw into the struct rv; def holds the defaults.
func (d *decoder) table(rv, def reflect.Value, raw map[string]any, prefix string) {
	t := rv.Type()
	var known []string
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("toml")
		if tag == "" || tag == "-" {
			continue
		}
		known = append(known, tag)
		if v, ok := raw[tag]; ok {
			d.value(rv.Field(i), def.Field(i), v, prefix+tag)
		}
	}
	var unknown []string
	for k := range raw {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		msg := "盒子不认识这个设置，已忽略"
		example := ""
		if near := nearest(k, known); near != "" {
			msg += "；是不是想写 " + near + "？"
			example = near + " = …"
		}
		d.add(&FieldError{Key: prefix + k, Msg: msg, Example: example})
	}
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// value decodes one key. A mismatch leaves the field at its default.
func (d *decoder) value(f, def reflect.Value, v any, key string) {
	name := lastPart(key)
	if strings.HasSuffix(key, "]") {
		name = key
	}
	example := func() string {
		if f.Kind() == reflect.String || reflect.PointerTo(f.Type()).Implements(textUnmarshaler) {
			if s := fmt.Sprint(def.Interface()); s != "" {
				return fmt.Sprintf("%s = %q", name, s)
			}
			return fmt.Sprintf(`%s = "…"`, name)
		}
		return fmt.Sprintf("%s = %v", name, def.Interface())
	}
	wrongType := func(want string) {
		fe := &FieldError{Key: key, Msg: fmt.Sprintf("%s，现在写的是 %s", want, describe(v)), Example: example()}
		if key == "pin" {
			fe.Msg = "密码要用英文引号括起来，不然开头的 0 会丢掉"
			fe.Example = `pin = "502817"`
		}
		if f.Kind() != reflect.Struct && f.Kind() != reflect.Slice || reflect.PointerTo(f.Type()).Implements(textUnmarshaler) {
			fe.Default = fmt.Sprint(def.Interface())
		}
		d.add(fe)
	}
	if reflect.PointerTo(f.Type()).Implements(textUnmarshaler) {
		s, ok := v.(string)
		if !ok {
			wrongType("要写成带英文引号的时长，如 \"3s\"（秒）或 \"30ms\"（毫秒）")
			return
		}
		if err := f.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			f.Set(def)
			d.add(&FieldError{Key: key, Msg: fmt.Sprintf("%q 不是时长，要写成 \"3s\"（秒）或 \"30ms\"（毫秒）", s), Example: example(), Default: fmt.Sprint(def.Interface())})
		}
		return
	}
	switch f.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			wrongType("要写成带英文引号的文字")
			return
		}
		f.SetString(s)
	case reflect.Int:
		n, ok := v.(int64)
		if !ok {
			wrongType("要写成整数，不加引号")
			return
		}
		// int is 32 bits on armv7: a larger number would wrap around into
		// a plausible value instead of being refused.
		if n < math.MinInt32 || n > math.MaxInt32 {
			d.add(&FieldError{Key: key, Msg: fmt.Sprintf("数字 %d 太大了", n), Example: example(), Default: fmt.Sprint(def.Interface())})
			return
		}
		f.SetInt(n)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			wrongType("要写 true（是）或 false（否），不加引号")
			return
		}
		f.SetBool(b)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			wrongType(fmt.Sprintf("这里应该是一组设置，以 [%s] 开头", key))
			return
		}
		d.table(f, def, m, key+".")
	case reflect.Slice:
		list, ok := tables(v)
		if !ok {
			wrongType(fmt.Sprintf("每一组要以 [[%s]] 开头", key))
			return
		}
		et := f.Type().Elem()
		out := reflect.MakeSlice(f.Type(), 0, len(list))
		for i, m := range list {
			e := reflect.New(et).Elem()
			d.table(e, reflect.Zero(et), m, fmt.Sprintf("%s[%d].", key, i))
			out = reflect.Append(out, e)
		}
		f.Set(out)
	default:
		panic("config: no decoder for " + f.Kind().String())
	}
}

// tables accepts [[name]] blocks and an inline array of tables.
func tables(v any) ([]map[string]any, bool) {
	switch v := v.(type) {
	case []map[string]any:
		return v, true
	case []any:
		out := make([]map[string]any, 0, len(v))
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			out = append(out, m)
		}
		return out, true
	}
	return nil, false
}

// describe says in Chinese what kind of value was written.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("文字 %q", v)
	case int64:
		return fmt.Sprintf("数字 %d", v)
	case float64:
		return fmt.Sprintf("小数 %v", v)
	case bool:
		return fmt.Sprintf("%v", v)
	case map[string]any:
		return "一组设置"
	case []any, []map[string]any:
		return "一串值"
	}
	return fmt.Sprintf("%v", v)
}

// nearest is the known key closest to a mistyped one (fsp → fps), or "".
func nearest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance counts the edits (insert, delete, change, swap of two
// neighbours) between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 99
	}
	rows := make([][]int, len(ra)+1)
	for i := range rows {
		rows[i] = make([]int, len(rb)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			rows[i][j] = min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				rows[i][j] = min(rows[i][j], rows[i-2][j-2]+1)
			}
		}
	}
	return rows[len(ra)][len(rb)]
}

// checkShape refuses, before parsing, a file nested deeper than any
// config needs: the parser's time and memory grow with nesting (a 100 KB
// file of 50 000 nested keys cost 28 s and 2.6 GB). Strings and comments
// are skipped; it returns the line and a message, or "".
func checkShape(data []byte) (int, string) {
	line, depth, dots := 1, 0, 0
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '\n':
			line++
			dots = 0
		case c == '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case c == '"' || c == '\'':
			q := string(c)
			if i+2 < len(data) && data[i+1] == c && data[i+2] == c {
				q = strings.Repeat(q, 3)
			}
			i += len(q)
			for i < len(data) && !strings.HasPrefix(string(data[i:min(i+len(q), len(data))]), q) {
				if data[i] == '\n' {
					line++
				}
				if data[i] == '\\' && c == '"' {
					i++
				}
				i++
			}
			i += len(q) - 1
		case c == '[' || c == '{':
			if depth++; depth > maxNesting {
				return line, fmt.Sprintf("括号套了 %d 层以上，盒子的配置最多 %d 层，多半不是盒子的配置文件", maxNesting, maxNesting)
			}
		case c == ']' || c == '}':
			depth = max(depth-1, 0)
		case c == '.':
			// A dot between digits is a number (1.5), not a key path.
			if i > 0 && i+1 < len(data) && isDigit(data[i-1]) && isDigit(data[i+1]) {
				continue
			}
			if dots++; dots > maxKeyDots {
				return line, fmt.Sprintf("一行里的名字有 %d 个以上的点（a.b.c…），盒子的配置用不到这么多层，多半不是盒子的配置文件", maxKeyDots)
			}
		}
	}
	return 0, ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
