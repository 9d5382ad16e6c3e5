package checker

import (
	"cowfs/disk"
	"cowfs/disk/format"
	"cowfs/disk/inject"
)

// ReadSupers reads every superblock copy that fits dev (disk.ReadSupers:
// magic, checksum, bytenr) and judges each intact copy by the superblock
// rules #1–#10, as the kernel does at mount: a copy breaking one gets a
// *disk.SuperError wrapping the rule's *Error. Every opener — transaction
// open and mount, fsck and dump-tree, mkfs's probe — reads superblocks
// through here, so one rule set decides which copies are usable.
func ReadSupers(dev disk.Device) []disk.SuperCopy {
	copies := disk.ReadSupers(dev)
	if inject.On(inject.OneSuperCopy) {
		copies = copies[:min(1, len(copies))]
	}
	for i := range copies {
		judgeSuper(&copies[i])
	}
	return copies
}

// judgeSuper applies the superblock rules to an intact copy.
func judgeSuper(c *disk.SuperCopy) {
	if c.Err != nil {
		return
	}
	if _, err := CheckSuper(c.Super, nil, c.Offset); err != nil {
		c.Err = &disk.SuperError{Offset: c.Offset, Reason: err.Error(), Corrupt: true, Err: err}
	}
}

// ReadSuper returns the newest copy ReadSupers accepts (the primary wins
// ties), or a *disk.NoSuperError saying why each copy was refused.
func ReadSuper(dev disk.Device) (*format.Super, error) {
	return disk.NewestSuper(ReadSupers(dev))
}
