package console

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/cunbo/cunbo/review/accounts"
	"github.com/cunbo/cunbo/review/store"
)

type loginData struct {
	Name  string
	Error string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.session(r); ok {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	c.render(w, http.StatusOK, "login.html", page{Title: "登录"})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	name := strings.TrimSpace(r.PostFormValue("name"))
	pw := r.PostFormValue("password")
	again := func(code int, msg string) {
		c.render(w, code, "login.html", page{Title: "登录", Data: loginData{Name: name, Error: msg}})
	}
	if name == "" || pw == "" || utf8.RuneCountInString(name) > 64 || len(pw) > 1024 {
		again(http.StatusBadRequest, "请填写名字和密码。")
		return
	}
	now := c.now()
	nameKey, addrKey := "name:"+name, "addr:"+from(r)
	for _, t := range []struct {
		th  *accounts.Throttle
		key string
	}{{c.byName, nameKey}, {c.byAddr, addrKey}} {
		if ok, wait := t.th.Allowed(t.key, now); !ok {
			w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
			again(http.StatusTooManyRequests, fmt.Sprintf("试错太多次了。为了安全，请 %d 分钟后再试。", int(math.Ceil(wait.Minutes()))))
			return
		}
	}
	u, err := c.st.User(r.Context(), name)
	hash := u.Hash
	switch {
	case err == nil:
	case isNotFound(err):
		hash = c.fakeHash
	default:
		c.internal(w, r, err)
		return
	}
	ok, verr := accounts.Verify(hash, pw)
	if verr != nil {
		c.log.Error("console: stored password hash", "user", name, "err", verr)
	}
	if err != nil || !ok {
		c.byName.Fail(nameKey, now)
		c.byAddr.Fail(addrKey, now)
		c.log.Info("console: sign-in refused", "name", name, "from", from(r))
		again(http.StatusUnauthorized, "名字或密码不对，请再试一次。")
		return
	}
	c.byName.Succeed(nameKey)
	value := randomToken()
	s := store.WebSession{Hash: hashCookie(value), User: u.Name, CSRF: randomToken(), Created: now, Expires: now.Add(SessionTTL)}
	if err := c.st.PutWebSession(r.Context(), s); err != nil {
		c.internal(w, r, err)
		return
	}
	c.audit(r.Context(), who{user: u}, r, "user.login", u.Name, "")
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: value, Path: Prefix, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(SessionTTL.Seconds())})
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, u who) {
	if err := c.st.DeleteWebSession(r.Context(), u.session.Hash); err != nil {
		c.internal(w, r, err)
		return
	}
	c.audit(r.Context(), u, r, "user.logout", u.user.Name, "")
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}
