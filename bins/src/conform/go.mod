module conform

go 1.19
