package policy

// Weekdays is a set of days of the week: bit i is time.Weekday(i), so bit 0 is
// Sunday and bit 6 is Saturday (the same bit order as Matter's DaysMask).
// Bit 7 is never set in a valid set.
type Weekdays uint8

// MaxCompactWindows is how many weekly windows an offline credential carries.
const MaxCompactWindows = 4

// CompactWindow is one weekly window in the compact form: the days it starts
// on and a daily [From, To) range in minutes of the lock's local day. To may be
// 1440 (24:00); To < From crosses midnight and belongs to the day it starts.
type CompactWindow struct {
	Days     Weekdays
	From, To uint16
}

// Compact is the lossy, fixed-size form of a Policy that a lock enforces
// offline. Its byte layout belongs to lockproto; its meaning belongs here.
type Compact struct {
	NotBefore  uint32 // Unix seconds, inclusive; 0 = open
	NotAfter   uint32 // Unix seconds, exclusive; 0 = open
	UseLimit   uint16 // 0 = unlimited
	NumWindows uint8  // 0 = no weekly restriction
	Windows    [MaxCompactWindows]CompactWindow
	NumPeriods uint8 // 0 = no date restriction beyond validity
	Periods    [MaxCompactPeriods]CompactPeriod
}

// MaxCompactPeriods is how many dated periods an offline credential carries.
const MaxCompactPeriods = 3

// CompactPeriod is one dated period in the compact form: Unix seconds
// [From, To). A period with From >= To covers nothing.
type CompactPeriod struct {
	From, To uint32
}
