import time

import labkit as lk


def resize_photo(event, context):
    lk.cpu(0.6)        # decode, resize and encode one photo: one thread
    return {"resized": True}


def send_webhook(event, context):
    lk.cpu(0.005)      # build the request
    time.sleep(0.4)    # wait for the customer's server to answer
    return {"status": 200}


def encode_video(event, context):
    lk.cpu(8.0)        # encode one clip, one thread
    return {"encoded": True}
