package main

// trapDivide divides with the hardware instruction and no zero check.
func trapDivide(a, b int64) int64

const divideTraps = "hardware trap (SIGFPE)"
