package firmware

import (
	"testing"

	"github.com/cunbo/cunbo/firmware/state"
	"github.com/cunbo/cunbo/hw"
)

// A full SD card while live: the LED flashes the storage pattern over the
// live light and the notice is listed, the state stays live.
func TestBoxStorageNotice(t *testing.T) {
	r := newRig(t)
	r.press(ButtonBig, hw.ShortPress)
	r.expect(state.Starting, hw.PatternStarting, hw.LevelMid)
	r.call("go-live")
	r.pl.liveResp <- nil
	r.expect(state.Live, hw.PatternLive, hw.LevelMid)

	r.box.StorageNotice("存储卡满了，正在删旧录像")
	s := r.expect(state.Live, hw.PatternStorage, hw.LevelMid)
	if v := r.panel.State(); v.Base != hw.PatternLive {
		t.Errorf("the storage flash hid the live state: base %s", v.Base)
	}
	last := s.Warnings[len(s.Warnings)-1]
	if last.Text != "存储卡满了，正在删旧录像" || last.Kind != NoticeStorage {
		t.Errorf("notice %+v", last)
	}
	if s := r.box.Status(); s.State != state.Live || len(s.Warnings) == 0 {
		t.Errorf("status after the notice %+v", s)
	}
}
