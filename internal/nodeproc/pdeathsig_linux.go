package nodeproc

import "syscall"

// setPdeathsig has the kernel SIGKILL the child when its parent thread
// exits (see start).
func setPdeathsig(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
