module github.com/nashmd/nashmd

go 1.26
