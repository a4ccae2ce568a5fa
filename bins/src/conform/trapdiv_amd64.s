#include "textflag.h"

// func trapDivide(a, b int64) int64
// A bare IDIVQ: a zero divisor raises the CPU's #DE, which Linux delivers as
// SIGFPE (FPE_INTDIV); Go's signal handler turns it into a runtime panic.
TEXT ·trapDivide(SB), NOSPLIT, $0-24
	MOVQ a+0(FP), AX
	MOVQ b+8(FP), CX
	CQO
	IDIVQ CX
	MOVQ AX, ret+16(FP)
	RET
