module nettest

go 1.19
