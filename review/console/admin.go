package console

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cunbo/cunbo/review/accounts"
	"github.com/cunbo/cunbo/review/store"
)

// routes mounts the admin's pages (audit log, accounts), the trainer's
// boxes page and handing a moment to a colleague.
func (c *Console) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+Prefix+"escalate", c.social(c.escalate))
	mux.HandleFunc("GET "+Prefix+"admin/audit", c.role(store.RoleAdmin, c.auditPage))
	mux.HandleFunc("GET "+Prefix+"admin/audit.csv", c.role(store.RoleAdmin, c.auditCSV))
	mux.HandleFunc("GET "+Prefix+"admin/users", c.role(store.RoleAdmin, c.usersPage))
	mux.HandleFunc("POST "+Prefix+"admin/users", c.role(store.RoleAdmin, c.addUser))
	mux.HandleFunc("POST "+Prefix+"admin/assign", c.role(store.RoleAdmin, c.assignBox))
	mux.HandleFunc("GET "+Prefix+"boxes", c.role(store.RoleTrainer, c.boxesPage))
	mux.HandleFunc("GET "+Prefix+"boxes/{box}/revoke", c.role(store.RoleTrainer, c.revokeConfirm))
	mux.HandleFunc("POST "+Prefix+"boxes/revoke", c.role(store.RoleTrainer, c.revokeBox))
}

var roleRefusals = map[string]string{
	store.RoleAdmin:   "这一页只有管理员能看。",
	store.RoleTrainer: "这一页只有培训师能看。",
}

// role requires a signed-in user holding role.
func (c *Console) role(role string, h userHandler) http.HandlerFunc {
	return c.user(func(w http.ResponseWriter, r *http.Request, u who) {
		if !u.user.Has(role) {
			c.fail(w, r, http.StatusForbidden, roleRefusals[role])
			return
		}
		h(w, r, u)
	})
}

// roleNames are the roles in plain words, in the order the pages list them.
var roleNames = []struct{ Role, Name string }{
	{store.RoleSocial, "社工（看她负责的妇女的片段）"},
	{store.RoleTrainer, "培训师（管盒子）"},
	{store.RoleAdmin, "管理员（管账号、看记录）"},
}

func roleName(role string) string {
	for _, r := range roleNames {
		if r.Role == role {
			short, _, _ := strings.Cut(r.Name, "（")
			return short
		}
	}
	return role
}

type usersData struct {
	Users []userRow
	Boxes []store.BoxOverview
	// Social are the social workers, to assign boxes to.
	Social []string
	Roles  []roleOpt
	Msg    string
	Error  string
	Name   string // the name typed, kept when the form is refused
	Added  *addedUser
}

type userRow struct {
	Name, Roles string
	Created     time.Time
}

type roleOpt struct {
	Role, Name string
	Checked    bool
}

func roleWords(roles []string) string {
	var out []string
	for _, r := range roles {
		out = append(out, roleName(r))
	}
	return strings.Join(out, "、")
}

// addedUser is shown once, right after adding: the password is never
// stored in the clear and cannot be shown again.
type addedUser struct {
	Name, Password, Roles string
}

var usersMessages = map[string]string{"assigned": "✅ 已经分好了。"}

func (c *Console) usersData(r *http.Request) (usersData, error) {
	var d usersData
	for _, rn := range roleNames {
		d.Roles = append(d.Roles, roleOpt{Role: rn.Role, Name: rn.Name})
	}
	users, err := c.st.Users(r.Context())
	if err != nil {
		return d, err
	}
	if d.Boxes, err = c.st.BoxesOverview(r.Context()); err != nil {
		return d, err
	}
	for _, u := range users {
		d.Users = append(d.Users, userRow{Name: u.Name, Roles: roleWords(u.Roles), Created: u.Created})
		if u.Has(store.RoleSocial) {
			d.Social = append(d.Social, u.Name)
		}
	}
	return d, nil
}

func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, u who) {
	d, err := c.usersData(r)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	d.Msg = usersMessages[r.URL.Query().Get("msg")]
	c.audit(r.Context(), u, r, "users.view", "", "")
	c.render(w, http.StatusOK, "admin_users.html", page{Title: "账号", User: &u.user, CSRF: u.session.CSRF, Data: d})
}

// validName is the rule of `cunbo-review user add`, 1 to 64 characters on
// one line, and no other control characters either: a name is shown on
// pages and in the audit log's CSV.
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) && utf8.RuneCountInString(name) <= 64 && !strings.ContainsFunc(name, unicode.IsControl)
}

func (c *Console) addUser(w http.ResponseWriter, r *http.Request, u who) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	var roles []string
	for _, rn := range roleNames {
		if slices.Contains(r.PostForm["role"], rn.Role) {
			roles = append(roles, rn.Role)
		}
	}
	again := func(code int, msg string) {
		d, err := c.usersData(r)
		if err != nil {
			c.internal(w, r, err)
			return
		}
		d.Error, d.Name = msg, name
		for i := range d.Roles {
			d.Roles[i].Checked = slices.Contains(roles, d.Roles[i].Role)
		}
		c.render(w, code, "admin_users.html", page{Title: "账号", User: &u.user, CSRF: u.session.CSRF, Data: d})
	}
	if !validName(name) {
		again(http.StatusBadRequest, "名字要写 1 到 64 个字，写在一行里。")
		return
	}
	if len(roles) == 0 || len(roles) != len(r.PostForm["role"]) {
		again(http.StatusBadRequest, "请至少选一个身份。")
		return
	}
	pw := accounts.NewPassword()
	hash, err := accounts.Hash(pw)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	now := c.now()
	nu := store.User{Name: name, Roles: roles, Hash: hash, Created: now}
	a := store.AuditEntry{At: now, Actor: u.actor(), Action: "user.add", Subject: name,
		Detail: "roles=" + strings.Join(roles, ",") + " from=" + from(r)}
	if err := c.st.AddUser(r.Context(), nu, a); err != nil {
		if errors.Is(err, store.ErrExists) {
			again(http.StatusConflict, "已经有叫“"+name+"”的账号了。请换一个名字。")
			return
		}
		c.internal(w, r, err)
		return
	}
	d, err := c.usersData(r)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	d.Added = &addedUser{Name: name, Password: pw, Roles: roleWords(roles)}
	c.render(w, http.StatusOK, "admin_users.html", page{Title: "账号", User: &u.user, CSRF: u.session.CSRF, Data: d})
}

func (c *Console) assignBox(w http.ResponseWriter, r *http.Request, u who) {
	box, to := r.PostFormValue("box"), r.PostFormValue("to")
	worker, err := c.st.User(r.Context(), to)
	if isNotFound(err) || (err == nil && !worker.Has(store.RoleSocial)) {
		c.fail(w, r, http.StatusBadRequest, "盒子只能分给社工。请回到上一页，从名单里选一位社工。")
		return
	}
	if err != nil {
		c.internal(w, r, err)
		return
	}
	if !boxIDRe.MatchString(box) {
		c.fail(w, r, http.StatusNotFound, "找不到这个盒子。请回到上一页再选。")
		return
	}
	now := c.now()
	a := store.AuditEntry{At: now, Actor: u.actor(), Action: "box.assign", Subject: box, Detail: "to=" + to + " from=" + from(r)}
	if err := c.st.AssignBox(r.Context(), box, to, a); err != nil {
		if isNotFound(err) {
			c.fail(w, r, http.StatusNotFound, "找不到这个盒子。请回到上一页再选。")
			return
		}
		c.internal(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"admin/users?msg=assigned", http.StatusSeeOther)
}
