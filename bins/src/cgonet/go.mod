module netlisten

go 1.19
