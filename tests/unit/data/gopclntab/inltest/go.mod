module inltest

go 1.19
