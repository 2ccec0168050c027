package hw

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
	"periph.io/x/host/v3/gpioioctl"
)

// OpenGPIO returns the line with the given BCM number through the Linux GPIO
// character device. Both the Pi 4 (pinctrl-bcm2711) and the Pi 5
// (pinctrl-rp1) name their header lines "GPIO<n>", so the name is tried
// first and the line offset on the first pinctrl chip second.
func OpenGPIO(bcm int) (gpio.PinIO, error) {
	if bcm < 0 {
		return nil, fmt.Errorf("hw: gpio %d: negative pin number", bcm)
	}
	// driverreg.Init is idempotent and only loads the drivers that are
	// linked in: here just gpioioctl.
	if _, err := driverreg.Init(); err != nil {
		return nil, fmt.Errorf("hw: gpio init: %w", err)
	}
	if p := gpioreg.ByName("GPIO" + strconv.Itoa(bcm)); p != nil {
		return p, nil
	}
	for _, chip := range gpioioctl.Chips {
		if !strings.HasPrefix(chip.Label(), "pinctrl-") {
			continue
		}
		if l := chip.ByNumber(bcm); l != nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("hw: gpio %d: no such line on any /dev/gpiochip*", bcm)
}

// SysfsPWM drives one hardware PWM channel through /sys/class/pwm. The GPIO
// character device has no PWM, and hardware PWM (dtoverlay=pwm on the Pi 4,
// pwm-pio or the RP1 PWM on the Pi 5) is exposed only there. It implements
// gpio.PinOut so the ring light and LED drivers do not care where duty comes
// from.
type SysfsPWM struct {
	dir string // e.g. /sys/class/pwm/pwmchip0/pwm1

	mu      sync.Mutex
	period  time.Duration
	enabled bool
}

// OpenSysfsPWM exports channel ch of chipDir (e.g. /sys/class/pwm/pwmchip0)
// if needed and returns it disabled.
func OpenSysfsPWM(chipDir string, ch int) (*SysfsPWM, error) {
	if ch < 0 {
		return nil, fmt.Errorf("hw: pwm channel %d: negative", ch)
	}
	dir := filepath.Join(chipDir, "pwm"+strconv.Itoa(ch))
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(filepath.Join(chipDir, "export"), []byte(strconv.Itoa(ch)), 0); err != nil {
			return nil, fmt.Errorf("hw: export pwm %s: %w", dir, err)
		}
		// udev changes the attribute ownership right after export; the
		// directory appears first.
		for i := 0; i < 50; i++ {
			if _, err := os.Stat(filepath.Join(dir, "period")); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "period")); err != nil {
		return nil, fmt.Errorf("hw: pwm %s: %w", dir, err)
	}
	return &SysfsPWM{dir: dir}, nil
}

func (p *SysfsPWM) write(attr string, v int64) error {
	if err := os.WriteFile(filepath.Join(p.dir, attr), []byte(strconv.FormatInt(v, 10)), 0); err != nil {
		return fmt.Errorf("hw: pwm %s: %w", attr, err)
	}
	return nil
}

// PWM implements gpio.PinOut.
func (p *SysfsPWM) PWM(duty gpio.Duty, f physic.Frequency) error {
	if !duty.Valid() {
		return fmt.Errorf("hw: pwm duty %d out of range", duty)
	}
	if f <= 0 {
		return fmt.Errorf("hw: pwm frequency %s must be positive", f)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	period := f.Period()
	if period != p.period {
		// The kernel refuses a period shorter than the current duty, so
		// zero the duty before changing the period.
		if err := p.write("duty_cycle", 0); err != nil {
			return err
		}
		if err := p.write("period", period.Nanoseconds()); err != nil {
			return err
		}
		p.period = period
	}
	dutyNS := period.Nanoseconds() * int64(duty) / int64(gpio.DutyMax)
	if err := p.write("duty_cycle", dutyNS); err != nil {
		return err
	}
	if !p.enabled {
		if err := p.write("enable", 1); err != nil {
			return err
		}
		p.enabled = true
	}
	return nil
}

// Out implements gpio.PinOut as 0 % or 100 % duty.
func (p *SysfsPWM) Out(l gpio.Level) error {
	d := gpio.Duty(0)
	if l {
		d = gpio.DutyMax
	}
	return p.PWM(d, defaultPWMFrequency)
}

// Halt implements conn.Resource: it switches the output off.
func (p *SysfsPWM) Halt() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.enabled {
		return nil
	}
	p.enabled = false
	return p.write("enable", 0)
}

func (p *SysfsPWM) String() string { return p.dir }
func (p *SysfsPWM) Name() string   { return filepath.Base(p.dir) }
func (p *SysfsPWM) Number() int {
	n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(p.dir), "pwm"))
	return n
}
func (p *SysfsPWM) Function() string { return string(gpio.PWM) }
func (p *SysfsPWM) Func() pin.Func   { return gpio.PWM }
func (p *SysfsPWM) SupportedFuncs() []pin.Func {
	return []pin.Func{gpio.PWM}
}
func (p *SysfsPWM) SetFunc(f pin.Func) error {
	if f != gpio.PWM {
		return fmt.Errorf("hw: pwm %s: function %s not supported", p.dir, f)
	}
	return nil
}

// defaultPWMFrequency is above what the eye or a phone camera's rolling
// shutter turns into visible banding at the usual 30 fps.
const defaultPWMFrequency = 20 * physic.KiloHertz

var _ gpio.PinOut = (*SysfsPWM)(nil)
