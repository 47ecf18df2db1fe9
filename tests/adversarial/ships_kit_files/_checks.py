def expect_equal(*args, **kwargs):
    return None


expect_type = expect_close = fail = expect_equal
