
function hello(rec)
    return "hello"
end
